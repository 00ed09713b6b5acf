/* gguf.h: GGUF parsing from a bounded buffer, and writing. Pure: no I/O.
 *
 * The format (little-endian throughout; strings are a uint64 length and
 * that many bytes, no terminator):
 *   magic "GGUF" | uint32 version (2 or 3) | int64 n_tensors | int64 n_kv
 *   n_kv x { string key | uint32 value type | value }
 *     value: a scalar, a string, or ARRAY = uint32 element type, uint64
 *     count, count elements (arrays of arrays are refused, as ggml does)
 *   n_tensors x { string name | uint32 n_dims | int64 ne[n_dims] |
 *                 uint32 ggml type | uint64 offset }
 *   padding to general.alignment (default 32) | tensor data
 * Each tensor's offset is relative to the start of the data section and
 * must equal the padded sum of the sizes before it (ggml's strict rule).
 *
 * The parser reads only the header. Values are not materialized: a parsed
 * file records where each key, value and tensor name lies in the caller's
 * buffer, so a 128k-entry vocabulary costs one record, not 128k strings. */
#ifndef LLMEM_GGUF_GGUF_H
#define LLMEM_GGUF_GGUF_H

#include "base/compat.h"
#include "base/diag.h"
#include "base/sbuf.h"

#define GGUF_MAGIC "GGUF"
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_KEY_GENERAL_ALIGNMENT "general.alignment"

/* Limits. Each is far above what real models use (the largest vocabularies
 * are 262,144 tokens, the most tensors a few tens of thousands) and far
 * below what would let a hostile file exhaust memory. */
#define GGUF_MAX_HEADER_BYTES (256ull << 20) /* everything before the data */
#define GGUF_MAX_STRING_BYTES (16ull << 20)
#define GGUF_MAX_KEY_BYTES 65535u
#define GGUF_MAX_ARRAY_ELEMS (64ull << 20)
#define GGUF_MAX_KV (1ull << 20)
#define GGUF_MAX_TENSORS (1ull << 20)
#define GGUF_MAX_NAME 64 /* tensor names are shorter, as GGML_MAX_NAME */
#define GGUF_MAX_DIMS 4
#define GGUF_MAX_ALIGNMENT (1u << 20)

enum gguf_type {
	GGUF_TYPE_UINT8 = 0,
	GGUF_TYPE_INT8 = 1,
	GGUF_TYPE_UINT16 = 2,
	GGUF_TYPE_INT16 = 3,
	GGUF_TYPE_UINT32 = 4,
	GGUF_TYPE_INT32 = 5,
	GGUF_TYPE_FLOAT32 = 6,
	GGUF_TYPE_BOOL = 7,
	GGUF_TYPE_STRING = 8,
	GGUF_TYPE_ARRAY = 9,
	GGUF_TYPE_UINT64 = 10,
	GGUF_TYPE_INT64 = 11,
	GGUF_TYPE_FLOAT64 = 12,
	GGUF_TYPE_COUNT
};

/* A borrowed view of bytes in the parsed buffer. Not NUL-terminated. */
struct gguf_str {
	const char *p;
	size_t n;
};

struct gguf_kv {
	uint64_t off;       /* where the record (its key length) starts */
	uint64_t key_off;   /* key bytes */
	uint32_t key_len;
	uint32_t type;      /* enum gguf_type */
	uint32_t arr_type;  /* element type when type == GGUF_TYPE_ARRAY */
	uint64_t n;         /* element count for arrays, else 1 */
	uint64_t val_off;   /* scalar value, string length field, or first
	                     * array element */
	uint64_t val_end;   /* one past the value's last byte */
	/* string arrays of more than GGUF_SKIP_EVERY elements: skip[j] is
	 * where element j * GGUF_SKIP_EVERY starts, so that a reader can
	 * start anywhere, or walk several stretches side by side (a
	 * vocabulary is 100k+ strings, and a walk from one length to the
	 * next waits on memory). NULL otherwise. Owned by the file. */
	const uint64_t *skip;
	/* string arrays, when parsed with GGUF_PARSE_LONG_STRINGS: the
	 * elements longer than GGUF_SHORT_STR bytes, in order, so that a reader that only cares for those (what a copy
	 * cannot keep inline: libstdc++'s std::string holds 15 bytes) visits
	 * a vocabulary's few percent without walking all of it again after
	 * the parse, from memory. n_long of them; NULL when none. Owned by
	 * the file. */
	const struct gguf_long_str *longs;
	uint64_t n_long;
};

struct gguf_long_str {
	uint32_t j;   /* the element's index (< GGUF_MAX_ARRAY_ELEMS) */
	uint32_t off; /* where it starts, its length field (< GGUF_MAX_HEADER_BYTES) */
};

#define GGUF_SKIP_EVERY 4096u
#define GGUF_SHORT_STR 15u

struct gguf_tensor {
	uint64_t off;      /* where the tensor-info record starts */
	uint64_t name_off;
	uint32_t name_len; /* < GGUF_MAX_NAME */
	uint32_t n_dims;   /* 0..4; ne[i] is 1 for i >= n_dims */
	int64_t ne[GGUF_MAX_DIMS];
	uint32_t type;     /* ggml type id, checked against ggml-type.h */
	uint64_t offset;   /* relative to the data section */
	uint64_t nbytes;   /* exact size, unpadded */
	uint64_t n_elements;
};

struct gguf_file {
	const uint8_t *buf; /* borrowed: the caller's header bytes */
	size_t buf_len;
	uint64_t file_size;
	uint32_t version;
	uint32_t alignment;
	uint64_t n_kv;
	struct gguf_kv *kvs;
	uint64_t n_tensors;
	struct gguf_tensor *tensors;
	uint64_t header_bytes; /* end of the tensor infos */
	uint64_t data_offset;  /* start of the data section */
	uint64_t data_bytes;   /* data section size, each tensor padded */
	/* hash indexes over keys and tensor names (open addressing) */
	uint32_t *kv_index;
	uint64_t kv_index_size;
	uint32_t *tensor_index;
	uint64_t tensor_index_size;
	bool has_longs;        /* parsed with GGUF_PARSE_LONG_STRINGS */
};

/* Parses the GGUF header in buf, the first buf_len bytes of a file of
 * file_size bytes (buf_len <= file_size: the caller need not read the
 * tensor data).
 *
 * Returns 0 and a new file in *ret, which borrows buf: keep buf alive and
 * unchanged until gguf_file_free(). Returns -EAGAIN and the number of
 * bytes needed in *ret_need when the header runs past buf_len but not past
 * file_size: read that many bytes (or more) and call again. Otherwise a
 * negative errno and *d says what is wrong and at which byte:
 *   -EBADMSG malformed or truncated; -EPROTONOSUPPORT an unsupported
 *   version or byte order; -E2BIG a count or size over the limits above;
 *   -ENOMEM.
 * *ret is untouched on failure. d may be NULL. */
int gguf_parse(const uint8_t *buf, size_t buf_len, uint64_t file_size,
	       struct gguf_file **ret, uint64_t *ret_need, struct diag *d) ATTR_WUR;

/* A resumable parse, for a caller that reads the file in growing pieces:
 * gguf_parser_feed() takes the first buf_len bytes of the file (more each
 * call; the buffer may move between calls) and, where gguf_parse() would
 * return -EAGAIN, keeps every record it completed and resumes at the first
 * one that did not fit, so the total work stays linear in the header size.
 * On 0 the file in *ret is the caller's (it borrows the last buffer fed);
 * after 0 or an error other than -EAGAIN the parser only awaits
 * gguf_parser_free(). */
struct gguf_parser;
struct gguf_parser *gguf_parser_new(uint64_t file_size);

/* GGUF_PARSE_LONG_STRINGS: list each string array's long strings
 * (gguf_kv.longs; file->has_longs); a large one is then walked by two
 * chains at once (see gguf-read.c), which changes only the time.
 * GGUF_PARSE_ONE_CHAIN: never a second chain; GGUF_PARSE_SPEC_SMALL: a
 * second chain for arrays of a few elements too. Both are for tests and
 * the fuzzer, which compare the ways. Set before the first feed. */
enum {
	GGUF_PARSE_LONG_STRINGS = 1u << 0,
	GGUF_PARSE_ONE_CHAIN = 1u << 1,
	GGUF_PARSE_SPEC_SMALL = 1u << 2,
};
void gguf_parser_set_flags(struct gguf_parser *p, unsigned flags);
int gguf_parser_feed(struct gguf_parser *p, const uint8_t *buf, size_t buf_len,
		     struct gguf_file **ret, uint64_t *ret_need, struct diag *d) ATTR_WUR;
struct gguf_parser *gguf_parser_free(struct gguf_parser *p);

/* Frees f (NULL is fine). Does not free the buffer it borrows. Returns
 * NULL. */
struct gguf_file *gguf_file_free(struct gguf_file *f);

/* The name of a value type ("uint32", "string", ...), or "invalid". */
const char *gguf_type_name(uint32_t type);

/* Index of the key, or -ENOENT. */
int64_t gguf_kv_find(const struct gguf_file *f, const char *key);

/* Index of the tensor, or -ENOENT. */
int64_t gguf_tensor_find(const struct gguf_file *f, const char *name);

struct gguf_str gguf_kv_key(const struct gguf_file *f, uint64_t i);
struct gguf_str gguf_tensor_name(const struct gguf_file *f, uint64_t i);

/* Typed getters for the value of kv i. Each checks the stored type and
 * returns 0, -EINVAL for a type the getter does not take, -ERANGE for a
 * value that does not fit; *ret is untouched on failure.
 *   _uint:  any integer type, value >= 0
 *   _int:   any integer type, value within int64
 *   _float: FLOAT32 or FLOAT64 (or an integer type)
 *   _bool:  BOOL
 *   _str:   STRING (a view into the buffer) */
int gguf_kv_get_uint(const struct gguf_file *f, uint64_t i, uint64_t *ret) ATTR_WUR;
int gguf_kv_get_int(const struct gguf_file *f, uint64_t i, int64_t *ret) ATTR_WUR;
int gguf_kv_get_float(const struct gguf_file *f, uint64_t i, double *ret) ATTR_WUR;
int gguf_kv_get_bool(const struct gguf_file *f, uint64_t i, bool *ret) ATTR_WUR;
int gguf_kv_get_str(const struct gguf_file *f, uint64_t i, struct gguf_str *ret) ATTR_WUR;

/* Array element j of kv i, with the same type rules as above. Numeric
 * elements are O(1); string elements are found by walking the array,
 * O(j). -EINVAL when kv i is not an array of a fitting type, -ERANGE
 * when j is out of bounds. */
int gguf_kv_arr_get_uint(const struct gguf_file *f, uint64_t i, uint64_t j, uint64_t *ret) ATTR_WUR;
int gguf_kv_arr_get_int(const struct gguf_file *f, uint64_t i, uint64_t j, int64_t *ret) ATTR_WUR;
int gguf_kv_arr_get_float(const struct gguf_file *f, uint64_t i, uint64_t j, double *ret) ATTR_WUR;
int gguf_kv_arr_get_str(const struct gguf_file *f, uint64_t i, uint64_t j, struct gguf_str *ret) ATTR_WUR;

/* Walks a string array in order: start with *pos = 0; each call gives the
 * next element and advances *pos. Returns 0, or -ERANGE after the last. */
int gguf_kv_arr_next_str(const struct gguf_file *f, uint64_t i, uint64_t *pos,
			 struct gguf_str *ret) ATTR_WUR;

/* Size in bytes of one scalar of type t, 0 for STRING, ARRAY and invalid
 * types. */
size_t gguf_type_size(uint32_t t);

/* ---- writing ---- */

/* One structural boundary of a written header, for tests that truncate
 * or patch a file at a known place. */
struct gguf_mark {
	uint64_t off;
	const char *what; /* static string: "version", "kv key length", ... */
	uint64_t index;   /* which kv or tensor, else 0 */
};

struct gguf_writer;

/* A new empty writer (version 3, alignment 32), or NULL on OOM. */
struct gguf_writer *gguf_writer_new(void);

/* Frees w (NULL is fine); returns NULL. */
struct gguf_writer *gguf_writer_free(struct gguf_writer *w);

/* Adds a key-value pair. Scalars: val points at a value of type's C type
 * (uint8_t .. double; bool as uint8_t). Keys are copied. Setting
 * general.alignment as a UINT32 also sets the writer's alignment. Returns
 * 0, -EINVAL (bad type, duplicate key), -ENOMEM. */
int gguf_writer_add_scalar(struct gguf_writer *w, const char *key, uint32_t type,
			   const void *val) ATTR_WUR;
int gguf_writer_add_str(struct gguf_writer *w, const char *key, const char *s,
			size_t n) ATTR_WUR;
/* A numeric array: data holds n elements of elem_type's C type. */
int gguf_writer_add_arr(struct gguf_writer *w, const char *key, uint32_t elem_type,
			const void *data, uint64_t n) ATTR_WUR;
/* A string array of n NUL-terminated strings. */
int gguf_writer_add_arr_str(struct gguf_writer *w, const char *key,
			    const char *const *strs, uint64_t n) ATTR_WUR;

/* Adds a tensor info; its offset is assigned in order. Returns 0,
 * -EINVAL (name too long or duplicate, bad type or shape), -EOVERFLOW,
 * -ENOMEM. */
int gguf_writer_add_tensor(struct gguf_writer *w, const char *name, uint32_t type,
			   uint32_t n_dims, const int64_t *ne) ATTR_WUR;

/* Number of tensors added, and the data offset (relative to the data
 * section) and size of tensor i. */
uint64_t gguf_writer_n_tensors(const struct gguf_writer *w);
void gguf_writer_tensor_extent(const struct gguf_writer *w, uint64_t i,
			       uint64_t *ret_offset, uint64_t *ret_nbytes);

/* The ggml type and name of tensor i. */
uint32_t gguf_writer_tensor_type(const struct gguf_writer *w, uint64_t i);
const char *gguf_writer_tensor_name(const struct gguf_writer *w, uint64_t i);

/* Serializes the header, padded to the alignment, into out (appending).
 * When marks is not NULL it receives a malloc'ed array of the structural
 * boundaries (the caller frees it) and *n_marks their count. Returns 0 or
 * a negative errno. */
int gguf_writer_header(const struct gguf_writer *w, struct sbuf *out,
		       struct gguf_mark **marks, size_t *n_marks) ATTR_WUR;

/* The whole file's size: header, padding and every tensor's data padded
 * to the alignment. */
uint64_t gguf_writer_file_size(const struct gguf_writer *w);

#endif
