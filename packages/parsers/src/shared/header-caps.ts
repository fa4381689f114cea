/**
 * How header fields count against the parsers' header caps (`maxHeaderBytes`).
 */

/**
 * What each header field costs against a header-size cap besides its name and value (RFC 7541
 * §4.1 charges a table entry 32 bytes the same way): a cap in bytes is then also a cap on the
 * number of fields, empty ones included.
 */
export const FIELD_OVERHEAD_BYTES = 32;
