//! Column types and wire encodings, as far as masking cares.

/// How a value is encoded on the wire.
///
/// The same logical value has different bytes depending on the protocol and on
/// whether the column travels in text or binary format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Wire {
    /// PostgreSQL text format (`format code 0`).
    PgText,
    /// PostgreSQL binary format (`format code 1`).
    PgBinary,
    /// MySQL text-protocol row (`COM_QUERY` result sets).
    MySqlText,
    /// MySQL binary-protocol row (prepared-statement result sets).
    MySqlBinary,
}

impl Wire {
    /// Whether this is one of the text wires, where every value is its text form.
    ///
    /// ```
    /// use masking::Wire;
    /// assert!(Wire::PgText.is_text());
    /// assert!(!Wire::MySqlBinary.is_text());
    /// ```
    pub fn is_text(self) -> bool {
        matches!(self, Wire::PgText | Wire::MySqlText)
    }
}

/// The type family of a column, as far as masking cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TypeKind {
    /// Character data (`text`, `varchar`, `char`, MySQL strings with a text charset).
    Text,
    /// `boolean`.
    Bool,
    /// A fixed-width integer of `bytes` bytes: 1, 2, 3 (MySQL `MEDIUMINT`, 4 bytes on the
    /// binary wire), 4 or 8.
    Int {
        /// Width in bytes of the SQL type (3 for MySQL `INT24`).
        bytes: u8,
    },
    /// An IEEE float of 4 or 8 bytes.
    Float {
        /// Width in bytes: 4 or 8.
        bytes: u8,
    },
    /// Arbitrary-precision decimal (`numeric`, MySQL `DECIMAL`).
    Numeric,
    /// A calendar date.
    Date,
    /// A timestamp without time zone (MySQL `DATETIME` and `TIMESTAMP` too).
    Timestamp,
    /// A PostgreSQL `timestamptz`.
    TimestampTz,
    /// A time of day (MySQL: a signed duration).
    Time,
    /// A PostgreSQL `uuid`.
    Uuid,
    /// `json` or `jsonb` (MySQL `JSON`).
    Json,
    /// Binary strings (`bytea`, MySQL binary-charset strings and `BIT`).
    Bytes,
    /// Anything else; most functions turn these into SQL NULL.
    Other,
}

/// The declared size of a column, which a masked value must fit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Size {
    /// No declared limit (`text`, unconstrained `numeric`, or a type without one).
    #[default]
    Any,
    /// At most this many characters (`varchar(n)`, `char(n)`, MySQL string columns).
    Chars(u32),
    /// `numeric(precision, scale)`: at most `precision - scale` integer digits and
    /// `scale` fraction digits.
    Decimal {
        /// Total significant digits.
        precision: u16,
        /// Digits after the decimal point.
        scale: u16,
    },
    /// `numeric(precision, -tens)` (PostgreSQL 15+): values are multiples of `10^tens`.
    /// Masked values are not fitted to it; `generalize` rounds coarser than it.
    Tens {
        /// Zeros every value ends with, before the decimal point.
        tens: u16,
    },
    /// MySQL `BIT(n)`: at most `n` bits, sent as `ceil(n / 8)` bytes.
    Bits(u32),
}

/// The type of a result column together with its wire encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ColumnType {
    /// The type family.
    pub kind: TypeKind,
    /// How values of the column are encoded.
    pub wire: Wire,
    /// The declared length or precision masked values are fitted into.
    pub size: Size,
}

/// PostgreSQL type OIDs that masking distinguishes.
mod oid {
    pub const BOOL: u32 = 16;
    pub const BYTEA: u32 = 17;
    pub const NAME: u32 = 19;
    pub const INT8: u32 = 20;
    pub const INT2: u32 = 21;
    pub const INT4: u32 = 23;
    pub const TEXT: u32 = 25;
    pub const JSON: u32 = 114;
    pub const FLOAT4: u32 = 700;
    pub const FLOAT8: u32 = 701;
    pub const BPCHAR: u32 = 1042;
    pub const VARCHAR: u32 = 1043;
    pub const DATE: u32 = 1082;
    pub const TIME: u32 = 1083;
    pub const TIMESTAMP: u32 = 1114;
    pub const TIMESTAMPTZ: u32 = 1184;
    pub const NUMERIC: u32 = 1700;
    pub const UUID: u32 = 2950;
    pub const JSONB: u32 = 3802;
}

/// The MySQL binary character set number.
const MYSQL_BINARY_CHARSET: u16 = 63;

impl ColumnType {
    /// A column of `kind` on `wire`, with no declared size.
    pub const fn new(kind: TypeKind, wire: Wire) -> ColumnType {
        ColumnType {
            kind,
            wire,
            size: Size::Any,
        }
    }

    /// A MySQL `BIT(bits)` column (its column definition's length counts bits, not bytes).
    ///
    /// ```
    /// use masking::{ColumnType, Size};
    /// assert_eq!(ColumnType::mysql(16, 63, false).with_bit_width(3).size, Size::Bits(3));
    /// ```
    pub fn with_bit_width(self, bits: u32) -> ColumnType {
        ColumnType {
            size: Size::Bits(bits.clamp(1, 64)),
            ..self
        }
    }

    /// With the size a PostgreSQL type modifier (RowDescription's `atttypmod`) declares:
    /// `varchar(n)` and `char(n)` carry n + 4, `numeric(p, s)` carries
    /// `((p << 16) | s) + 4`; -1 (no modifier) and other types leave it unlimited.
    ///
    /// ```
    /// use masking::{ColumnType, Size};
    /// assert_eq!(ColumnType::pg(1043, false).with_pg_typmod(23).size, Size::Chars(19));
    /// assert_eq!(ColumnType::pg(1700, true).with_pg_typmod((5 << 16 | 2) + 4).size,
    ///            Size::Decimal { precision: 5, scale: 2 });
    /// assert_eq!(ColumnType::pg(25, false).with_pg_typmod(-1).size, Size::Any);
    /// // numeric(3, -2): scale -2 in 11 bits is 0x7FE.
    /// assert_eq!(ColumnType::pg(1700, false).with_pg_typmod((3 << 16 | 0x7FE) + 4).size,
    ///            Size::Tens { tens: 2 });
    /// ```
    pub fn with_pg_typmod(self, typmod: i32) -> ColumnType {
        let Some(m) = typmod.checked_sub(4).filter(|m| *m >= 0) else {
            return self;
        };
        let size = match self.kind {
            TypeKind::Text => Size::Chars(m as u32),
            TypeKind::Numeric => {
                let (precision, scale) = ((m >> 16) & 0xFFFF, m & 0x7FF);
                // A negative scale (PostgreSQL 15+): 11 bits, two's complement.
                if m & 0x400 != 0 {
                    let tens = 0x800 - scale;
                    return ColumnType {
                        size: Size::Tens { tens: tens as u16 },
                        ..self
                    };
                }
                if precision == 0 || scale > precision {
                    return self;
                }
                Size::Decimal {
                    precision: precision as u16,
                    scale: scale as u16,
                }
            }
            _ => return self,
        };
        ColumnType { size, ..self }
    }

    /// With the size a MySQL column definition declares: `column_length` is in bytes of
    /// the result charset (divided by its widest character: 4 for `utf8mb4`, 3 for
    /// `utf8mb3`, 1 for `latin1`, `ascii` and `binary`, 4 for charsets sluice does not
    /// know, which only ever shortens the limit), and `DECIMAL(p, s)` is
    /// `column_length = p + (s > 0) + !unsigned` with `decimals = s`.
    ///
    /// ```
    /// use masking::{ColumnType, Size};
    /// // VARCHAR(19) read over a utf8mb4 connection: 76 bytes.
    /// assert_eq!(ColumnType::mysql(253, 45, false).with_mysql_length(76, 0, 0, 45).size, Size::Chars(19));
    /// // DECIMAL(5,2), signed: length 7.
    /// assert_eq!(ColumnType::mysql(246, 63, true).with_mysql_length(7, 2, 0, 63).size,
    ///            Size::Decimal { precision: 5, scale: 2 });
    /// ```
    pub fn with_mysql_length(
        self,
        length: u32,
        decimals: u8,
        flags: u16,
        charset: u16,
    ) -> ColumnType {
        const UNSIGNED: u16 = 32;
        let size = match self.kind {
            // BLOB/TEXT types of 4 GiB say 0xFFFFFFFF: effectively no limit either way.
            TypeKind::Text => Size::Chars(length / mysql_charset_width(charset)),
            TypeKind::Numeric => {
                let scale = u32::from(decimals);
                let sign = u32::from(flags & UNSIGNED == 0);
                let point = u32::from(scale > 0);
                match length.checked_sub(sign + point) {
                    // 31 is MySQL's "not a fixed scale" marker for decimals.
                    Some(p) if decimals < 31 && p >= scale && p > 0 && p <= 65 => Size::Decimal {
                        precision: p as u16,
                        scale: scale as u16,
                    },
                    _ => return self,
                }
            }
            _ => return self,
        };
        ColumnType { size, ..self }
    }
    /// From a PostgreSQL type OID and whether the column is in binary format.
    ///
    /// Unknown OIDs (extension types such as `citext` included, whose OIDs vary
    /// between databases) map to [`TypeKind::Other`].
    ///
    /// ```
    /// use masking::{ColumnType, TypeKind, Wire};
    /// assert_eq!(ColumnType::pg(23, true), ColumnType::new(TypeKind::Int { bytes: 4 }, Wire::PgBinary));
    /// assert_eq!(ColumnType::pg(1043, false).kind, TypeKind::Text);
    /// assert_eq!(ColumnType::pg(600, false).kind, TypeKind::Other); // point
    /// ```
    pub fn pg(type_oid: u32, binary: bool) -> ColumnType {
        let kind = match type_oid {
            oid::TEXT | oid::VARCHAR | oid::BPCHAR | oid::NAME => TypeKind::Text,
            oid::INT2 => TypeKind::Int { bytes: 2 },
            oid::INT4 => TypeKind::Int { bytes: 4 },
            oid::INT8 => TypeKind::Int { bytes: 8 },
            oid::FLOAT4 => TypeKind::Float { bytes: 4 },
            oid::FLOAT8 => TypeKind::Float { bytes: 8 },
            oid::NUMERIC => TypeKind::Numeric,
            oid::BOOL => TypeKind::Bool,
            oid::DATE => TypeKind::Date,
            oid::TIMESTAMP => TypeKind::Timestamp,
            oid::TIMESTAMPTZ => TypeKind::TimestampTz,
            oid::TIME => TypeKind::Time,
            oid::UUID => TypeKind::Uuid,
            oid::JSON | oid::JSONB => TypeKind::Json,
            oid::BYTEA => TypeKind::Bytes,
            _ => TypeKind::Other,
        };
        let wire = if binary { Wire::PgBinary } else { Wire::PgText };
        ColumnType::new(kind, wire)
    }

    /// From a MySQL column type byte (`MYSQL_TYPE_*`), the column's charset number
    /// (63 = binary) and whether the row is a binary-protocol row.
    ///
    /// String and blob types are [`TypeKind::Text`] unless their charset is binary,
    /// then [`TypeKind::Bytes`]. `ENUM`, `SET`, `GEOMETRY` and `NULL` are
    /// [`TypeKind::Other`]. `YEAR` is a 2-byte integer.
    ///
    /// ```
    /// use masking::{ColumnType, TypeKind, Wire};
    /// assert_eq!(ColumnType::mysql(253, 45, false), ColumnType::new(TypeKind::Text, Wire::MySqlText));
    /// assert_eq!(ColumnType::mysql(252, 63, true).kind, TypeKind::Bytes);
    /// assert_eq!(ColumnType::mysql(9, 63, true).kind, TypeKind::Int { bytes: 3 });
    /// ```
    pub fn mysql(column_type: u8, charset: u16, binary_row: bool) -> ColumnType {
        let kind = match column_type {
            0 | 246 => TypeKind::Numeric,
            1 => TypeKind::Int { bytes: 1 },
            2 | 13 => TypeKind::Int { bytes: 2 },
            3 => TypeKind::Int { bytes: 4 },
            4 => TypeKind::Float { bytes: 4 },
            5 => TypeKind::Float { bytes: 8 },
            7 | 12 | 17 | 18 => TypeKind::Timestamp,
            8 => TypeKind::Int { bytes: 8 },
            9 => TypeKind::Int { bytes: 3 },
            10 | 14 => TypeKind::Date,
            11 | 19 => TypeKind::Time,
            16 => TypeKind::Bytes,
            245 => TypeKind::Json,
            15 | 249..=254 => {
                if charset == MYSQL_BINARY_CHARSET {
                    TypeKind::Bytes
                } else {
                    TypeKind::Text
                }
            }
            _ => TypeKind::Other,
        };
        let wire = if binary_row {
            Wire::MySqlBinary
        } else {
            Wire::MySqlText
        };
        ColumnType::new(kind, wire)
    }
}

/// The widest character of a MySQL/MariaDB charset (by collation id), in bytes; 4 (the
/// widest there is) for ids sluice does not know, so a limit computed from it never
/// lets a value grow past the column.
fn mysql_charset_width(charset: u16) -> u32 {
    match charset {
        // binary, latin1, latin2, ascii, cp1250, cp1252 and other one-byte collations.
        63 | 5 | 8 | 9 | 11 | 15 | 21 | 26 | 31 | 47 | 48 | 49 | 65 | 94 => 1,
        // utf8mb3 collations.
        33 | 76 | 83 | 192..=215 | 223 => 3,
        _ => 4,
    }
}

/// The name PostgreSQL gives a built-in type, by OID; `None` for types whose OIDs are not
/// fixed (extensions, domains, user-defined types).
///
/// ```
/// assert_eq!(masking::pg_type_name(23), Some("int4"));
/// assert_eq!(masking::pg_type_name(1043), Some("varchar"));
/// assert_eq!(masking::pg_type_name(16385), None);
/// ```
pub fn pg_type_name(type_oid: u32) -> Option<&'static str> {
    Some(match type_oid {
        oid::BOOL => "bool",
        oid::BYTEA => "bytea",
        18 => "char",
        oid::NAME => "name",
        oid::INT8 => "int8",
        oid::INT2 => "int2",
        oid::INT4 => "int4",
        24 => "regproc",
        oid::TEXT => "text",
        26 => "oid",
        27 => "tid",
        28 => "xid",
        29 => "cid",
        oid::JSON => "json",
        142 => "xml",
        194 => "pg_node_tree",
        600 => "point",
        601 => "lseg",
        602 => "path",
        603 => "box",
        604 => "polygon",
        628 => "line",
        650 => "cidr",
        oid::FLOAT4 => "float4",
        oid::FLOAT8 => "float8",
        705 => "unknown",
        718 => "circle",
        774 => "macaddr8",
        790 => "money",
        829 => "macaddr",
        869 => "inet",
        1000 => "_bool",
        1001 => "_bytea",
        1005 => "_int2",
        1007 => "_int4",
        1009 => "_text",
        1014 => "_bpchar",
        1015 => "_varchar",
        1016 => "_int8",
        1021 => "_float4",
        1022 => "_float8",
        1033 => "aclitem",
        1034 => "_aclitem",
        1042 => "bpchar",
        oid::VARCHAR => "varchar",
        oid::DATE => "date",
        oid::TIME => "time",
        oid::TIMESTAMP => "timestamp",
        1115 => "_timestamp",
        1182 => "_date",
        1183 => "_time",
        oid::TIMESTAMPTZ => "timestamptz",
        1185 => "_timestamptz",
        1186 => "interval",
        1187 => "_interval",
        1231 => "_numeric",
        1266 => "timetz",
        1560 => "bit",
        1562 => "varbit",
        oid::NUMERIC => "numeric",
        1790 => "refcursor",
        2205 => "regclass",
        2206 => "regtype",
        2249 => "record",
        2275 => "cstring",
        2278 => "void",
        oid::UUID => "uuid",
        2951 => "_uuid",
        3220 => "pg_lsn",
        3614 => "tsvector",
        3615 => "tsquery",
        oid::JSONB => "jsonb",
        3807 => "_jsonb",
        3904 => "int4range",
        3906 => "numrange",
        3908 => "tsrange",
        3910 => "tstzrange",
        3912 => "daterange",
        3926 => "int8range",
        4072 => "jsonpath",
        4089 => "regnamespace",
        4096 => "regrole",
        5038 => "pg_snapshot",
        _ => return None,
    })
}

/// The SQL name of a MySQL column type byte (`MYSQL_TYPE_*`) with the column's charset
/// number: string and blob types of the binary charset (63) are the binary types.
///
/// ```
/// assert_eq!(masking::mysql_type_name(3, 63), "int");
/// assert_eq!(masking::mysql_type_name(253, 45), "varchar");
/// assert_eq!(masking::mysql_type_name(253, 63), "varbinary");
/// assert_eq!(masking::mysql_type_name(252, 63), "blob");
/// ```
pub fn mysql_type_name(column_type: u8, charset: u16) -> &'static str {
    let binary = charset == MYSQL_BINARY_CHARSET;
    match column_type {
        0 | 246 => "decimal",
        1 => "tinyint",
        2 => "smallint",
        3 => "int",
        4 => "float",
        5 => "double",
        6 => "null",
        7 => "timestamp",
        8 => "bigint",
        9 => "mediumint",
        10 | 14 => "date",
        11 | 19 => "time",
        12 | 18 => "datetime",
        13 => "year",
        17 => "timestamp",
        16 => "bit",
        245 => "json",
        247 => "enum",
        248 => "set",
        249 if binary => "tinyblob",
        249 => "tinytext",
        250 if binary => "mediumblob",
        250 => "mediumtext",
        251 if binary => "longblob",
        251 => "longtext",
        252 if binary => "blob",
        252 => "text",
        15 | 253 if binary => "varbinary",
        15 | 253 => "varchar",
        254 if binary => "binary",
        254 => "char",
        255 => "geometry",
        _ => "unknown",
    }
}

/// What a mask did to one value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MaskOutcome {
    /// Write the output buffer as the new value.
    Value,
    /// Send SQL NULL instead of a value.
    Null,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pg_oids() {
        let cases = [
            (25, TypeKind::Text),
            (1042, TypeKind::Text),
            (19, TypeKind::Text),
            (21, TypeKind::Int { bytes: 2 }),
            (20, TypeKind::Int { bytes: 8 }),
            (700, TypeKind::Float { bytes: 4 }),
            (701, TypeKind::Float { bytes: 8 }),
            (1700, TypeKind::Numeric),
            (16, TypeKind::Bool),
            (1082, TypeKind::Date),
            (1114, TypeKind::Timestamp),
            (1184, TypeKind::TimestampTz),
            (1083, TypeKind::Time),
            (2950, TypeKind::Uuid),
            (114, TypeKind::Json),
            (3802, TypeKind::Json),
            (17, TypeKind::Bytes),
            (0, TypeKind::Other),
        ];
        for (oid, kind) in cases {
            assert_eq!(ColumnType::pg(oid, false).kind, kind, "oid {oid}");
        }
        assert_eq!(ColumnType::pg(25, false).wire, Wire::PgText);
    }

    #[test]
    fn mysql_types() {
        assert_eq!(ColumnType::mysql(246, 63, false).kind, TypeKind::Numeric);
        assert_eq!(
            ColumnType::mysql(1, 63, true).kind,
            TypeKind::Int { bytes: 1 }
        );
        assert_eq!(
            ColumnType::mysql(13, 63, true).kind,
            TypeKind::Int { bytes: 2 }
        );
        assert_eq!(ColumnType::mysql(12, 63, true).kind, TypeKind::Timestamp);
        assert_eq!(ColumnType::mysql(245, 63, true).kind, TypeKind::Json);
        assert_eq!(ColumnType::mysql(254, 255, true).kind, TypeKind::Text);
        assert_eq!(ColumnType::mysql(16, 63, false).kind, TypeKind::Bytes);
        assert_eq!(ColumnType::mysql(247, 33, false).kind, TypeKind::Other);
        assert_eq!(ColumnType::mysql(255, 63, false).kind, TypeKind::Other);
        assert_eq!(ColumnType::mysql(6, 63, false).kind, TypeKind::Other);
        assert_eq!(ColumnType::mysql(1, 63, true).wire, Wire::MySqlBinary);
    }
}
