/*
 * dataflare.h - the DataFlare plugin SDK for C, ABI `dataflare-batch/1`.
 *
 * One header, no libc, no imports unless you ask for logging. It implements the
 * whole contract of docs/plugin-abi.md (the exports, the result block, the
 * per-record error list, memory ownership) so that a plugin is a few callbacks:
 *
 *     #include "dataflare.h"
 *
 *     df_status df_on_init(const df_params *params) {
 *         (void)params;
 *         return DF_OK;
 *     }
 *
 *     // Keep the records whose value is not empty.
 *     df_status df_on_batch(const df_batch *in, df_output *out) {
 *         df_record r;
 *         for (df_iter it = df_iter_begin(in); df_next(&it, &r);)
 *             if (r.value.len > 0) df_emit_input(out, r.index);
 *         return DF_OK;
 *     }
 *
 * `dataflare plugin build` compiles it for wasm32 and packages it.
 *
 * Callbacks you write (the SDK exports the ABI functions around them):
 *
 *     df_status df_on_init(const df_params *params);          required
 *     df_status df_on_batch(const df_batch *in, df_output *out);  required
 *     df_status df_on_flush(df_output *out);                  with DF_ENABLE_FLUSH
 *     df_status df_on_snapshot(df_buffer *state);             with DF_ENABLE_STATE
 *     df_status df_on_restore(df_bytes state);                with DF_ENABLE_STATE
 *
 * Options, defined before the #include:
 *
 *     DF_ENABLE_FLUSH        export df_flush (aggregates emit there)
 *     DF_ENABLE_STATE        export df_snapshot and df_restore (aggregates)
 *     DF_ENABLE_LOG          import df.log; needs capability "log" in the manifest
 *     DF_DECLARATIONS_ONLY   declarations only, for the other .c files of a plugin
 *
 * Rules worth knowing:
 *
 * - Memory. df_alloc() hands out memory from a per-call arena that is reset
 *   when the next call into the plugin starts: no free, ever. State that lives
 *   across batches goes in df_state_alloc() memory, which only df_state_reset()
 *   releases. Every allocation failure (the host's memory limit) makes the call
 *   return status 3 (DF_NO_MEMORY) whatever your callback returns.
 * - Input. The SDK checks every input batch completely before df_on_batch runs,
 *   and answers status 2 (DF_BAD_INPUT) for a malformed one, so the accessors
 *   below never read out of bounds. Input bytes live in a buffer the host
 *   overwrites before the next call: copy what you keep.
 * - Output. Output columns start as the input's columns (same names, types and
 *   order). df_emit_input() copies a record with its column values;
 *   df_emit(out, source, ...) makes a new record that carries the headers and
 *   column values of input record `source`. Use df_output_drop_columns() and
 *   df_output_add_column() before the first emit to change the columns; an added
 *   column needs df_set_i64()/df_set_f64() for every record (DF_MISUSE if one is
 *   left unset: the SDK never invents a 0). The output keeps the input's batch
 *   metadata. The output is always a valid batch, laid out exactly as the
 *   kernel's own writer lays it out.
 * - Errors. df_record_error() sends one input record to the dead-letter
 *   destination and lets the rest of the batch go on. Return df_fail() (or
 *   df_config_error() from df_on_init) to fail the whole call.
 *
 * Status codes 0 to 16 belong to the ABI and the SDK; use DF_PLUGIN_FAILED (17)
 * and up for your own fatal errors.
 */
#ifndef DATAFLARE_H
#define DATAFLARE_H

#if !defined(__wasm32__)
#error "dataflare.h targets wasm32: build with `dataflare plugin build`"
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Status codes and constants --------------------------------------------- */

typedef uint32_t df_status;

#define DF_OK 0u            /* success */
#define DF_BAD_INPUT 2u     /* the input batch (or state, or parameter block) is malformed */
#define DF_NO_MEMORY 3u     /* memory.grow failed: the plugin hit its memory limit */
#define DF_BAD_CONFIG 4u    /* df_on_init rejected the parameters */
#define DF_MISUSE 16u       /* the plugin used the SDK wrongly; the message says how */
#define DF_PLUGIN_FAILED 17u /* the first status free for plugin-defined fatal errors */

#define DF_I64 1u /* typed column of int64_t */
#define DF_F64 2u /* typed column of double */

#define DF_NO_SOURCE 0xFFFFFFFFu /* df_emit: the new record derives from no input record */

/* df.log levels, as the host maps them to its log */
#define DF_LOG_DEBUG 0
#define DF_LOG_INFO 1
#define DF_LOG_NOTICE 2
#define DF_LOG_WARN 3
#define DF_LOG_ERROR 4

/* ---- Byte strings ------------------------------------------------------------ */

/* A view of bytes owned by someone else (the input, the arena, a literal). */
typedef struct {
    const uint8_t *ptr;
    uint32_t len;
} df_bytes;

/* A df_bytes for a string literal, without strlen: DF_STR("mask"). */
#define DF_STR(literal) ((df_bytes){(const uint8_t *)(literal), (uint32_t)(sizeof(literal) - 1)})

df_bytes df_str(const char *nul_terminated);
bool df_bytes_eq(df_bytes a, df_bytes b);
/* The index of the first `needle` in `haystack`, or -1 (0 for an empty needle). */
int64_t df_bytes_find(df_bytes haystack, df_bytes needle);
bool df_utf8_valid(df_bytes text);
/* Decimal integer, optional sign; false on anything else or overflow. */
bool df_parse_i64(df_bytes text, int64_t *value);
/* Decimal number such as -1.5e3; exact for up to 15 significant digits and
 * exponents within +-22 (where it is correctly rounded), within a few ulp
 * otherwise; false on anything else or on overflow to infinity. */
bool df_parse_f64(df_bytes text, double *value);
/* Write `value` in decimal into `buf` (room for 20 bytes); return the length. */
uint32_t df_format_i64(int64_t value, char buf[20]);

/* ---- Input batches ----------------------------------------------------------- */

/* A checked record batch (docs/record-batch.md). Read it with the functions below. */
typedef struct {
    const uint8_t *data;
    uint32_t len, count, ncols;
    uint32_t ts_off, key_offs_off, value_offs_off, hdr_offs_off, cols_off;
    uint32_t key_data_off, value_data_off, hdr_data_off, meta_off, meta_len;
} df_batch;

/* One record, viewed in place. `headers` is the record's raw KV block. */
typedef struct {
    uint32_t index;
    int64_t timestamp; /* milliseconds since the Unix epoch */
    df_bytes key;      /* empty means "no key" */
    df_bytes value;
    df_bytes headers;
} df_record;

/* A typed column of a batch: `count` values of `type` (DF_I64 or DF_F64). */
typedef struct {
    uint32_t type;
    df_bytes name;
    const uint8_t *data;
    uint32_t count;
} df_column;

typedef struct {
    const df_batch *batch;
    uint32_t next;
} df_iter;

/* Check `len` bytes at `data` and view them as a batch; DF_BAD_INPUT with a reason
 * in *why when they are not a valid version-1 batch. df_on_batch gets an open one. */
df_status df_batch_open(df_batch *batch, const uint8_t *data, uint32_t len, const char **why);

uint32_t df_count(const df_batch *batch);
/* Record `i`; out-of-range indexes give an empty record with timestamp 0. */
df_record df_get(const df_batch *batch, uint32_t i);
int64_t df_timestamp(const df_batch *batch, uint32_t i);
df_bytes df_key(const df_batch *batch, uint32_t i);
df_bytes df_value(const df_batch *batch, uint32_t i);
/* Look up header `name` of record `i`; false when absent. */
bool df_header(const df_batch *batch, uint32_t i, const char *name, df_bytes *value);
/* The batch metadata KV block (empty when there is none). */
df_bytes df_metadata(const df_batch *batch);

df_iter df_iter_begin(const df_batch *batch);
/* Fill *record with the next record; false after the last one. */
bool df_next(df_iter *it, df_record *record);

/* Find typed column `name`; false when the batch has none by that name.
 * Look a column up once per batch, then read values with the functions below. */
bool df_column_find(const df_batch *batch, const char *name, df_column *column);
/* Value `i` of an i64 column (0 for f64 columns and out-of-range indexes). */
int64_t df_column_i64(const df_column *column, uint32_t i);
/* Value `i` as a double: an f64 value, or an i64 value converted (0 when out of range). */
double df_column_f64(const df_column *column, uint32_t i);

/* Look `name` up in a KV block (headers, metadata, parameters); false when absent. */
bool df_kv_get(df_bytes block, const char *name, df_bytes *value);

/* ---- Parameters (df_on_init) --------------------------------------------------- */

/* The plugin's parameters. The SDK keeps its own copy, so the df_bytes that
 * df_param returns stay valid for the life of the plugin. */
typedef struct {
    df_bytes block;
} df_params;

bool df_param(const df_params *params, const char *name, df_bytes *value);
/* The parameter `name`, or `fallback` when it is not set. */
df_bytes df_param_or(const df_params *params, const char *name, const char *fallback);
/* DF_OK when every parameter name is in `known`; otherwise a config error that names
 * the first unknown one and lists the known ones. Return it from df_on_init. */
df_status df_params_allow(const df_params *params, const char *const *known, uint32_t nknown);

/* ---- Output ---------------------------------------------------------------------- */

typedef struct {
    uint8_t *ptr;
    uint32_t len, cap;
} df__vec;

/* The output batch being built during one call. */
typedef struct {
    const df_batch *input; /* NULL in df_on_flush */
    uint32_t count, ncols;
    df__vec ts, key_offs, key_data, value_offs, value_data, hdr_offs, hdr_data, cols;
    df_bytes meta;
} df_output;

/* Copy input record `i` (time, key, value, headers and column values). */
bool df_emit_input(df_output *out, uint32_t i);
/* Append a new record. It carries the headers and column values of input record
 * `source`, or none with DF_NO_SOURCE. The bytes are copied. */
bool df_emit(df_output *out, uint32_t source, int64_t timestamp, const void *key,
             uint32_t key_len, const void *value, uint32_t value_len);
/* Before the first emit: no output columns at all. */
bool df_output_drop_columns(df_output *out);
/* Before the first emit: add column `name` (1 to 23 bytes) of `type`; returns its
 * handle, or -1 (and DF_MISUSE) when the name is invalid or taken. */
int32_t df_output_add_column(df_output *out, const char *name, uint32_t type);
/* The handle of output column `name`, or -1. */
int32_t df_output_column(const df_output *out, const char *name);
/* Set a column value of the record emitted last. */
bool df_set_i64(df_output *out, int32_t column, int64_t value);
bool df_set_f64(df_output *out, int32_t column, double value);

/* ---- Errors ------------------------------------------------------------------------ */

/* Send input record `index` to the dead-letter destination with `code` and a message. */
bool df_record_error(uint32_t index, uint32_t code, const char *message);
bool df_record_error_n(uint32_t index, uint32_t code, const void *message, uint32_t len);
/* Fail the whole call: `return df_fail(DF_PLUGIN_FAILED, "state is corrupt");` */
df_status df_fail(df_status status, const char *message);
/* From df_on_init: `return df_config_error("mask must be one character");` */
df_status df_config_error(const char *message);

/* ---- Memory ---------------------------------------------------------------------- */

/* `size` bytes, 8-byte aligned, valid until the next call into the plugin; NULL
 * (and status 3 for the call) when memory runs out. */
void *df_alloc(uint32_t size);
/* `size` bytes, 8-byte aligned, valid until df_state_reset(); NULL when out of memory. */
void *df_state_alloc(uint32_t size);
/* A copy of `bytes` in state memory; an empty df_bytes when out of memory. */
df_bytes df_state_dup(df_bytes bytes);
/* Release all state memory at once (for example in df_on_restore). */
void df_state_reset(void);

/* ---- State (aggregates) ------------------------------------------------------------ */

/* A growable byte buffer in the per-call arena: df_on_snapshot appends the state. */
typedef struct {
    df__vec bytes;
} df_buffer;

bool df_buffer_append(df_buffer *buffer, const void *data, uint32_t len);
bool df_buffer_u32(df_buffer *buffer, uint32_t value);
bool df_buffer_u64(df_buffer *buffer, uint64_t value);
/* A u32 length, then the bytes: read it back with df_read_bytes. */
bool df_buffer_bytes(df_buffer *buffer, df_bytes bytes);

/* A bounds-checked reader over bytes, for df_on_restore. Once a read fails,
 * `ok` stays false and every later read fails too. */
typedef struct {
    df_bytes rest;
    bool ok;
} df_cursor;

df_cursor df_cursor_of(df_bytes bytes);
bool df_read_u32(df_cursor *cursor, uint32_t *value);
bool df_read_u64(df_cursor *cursor, uint64_t *value);
bool df_read_bytes(df_cursor *cursor, df_bytes *value);
/* True when every read succeeded and nothing is left. */
bool df_cursor_done(const df_cursor *cursor);

/* ---- Logging ----------------------------------------------------------------------- */

/* A line in the host's log (DF_LOG_DEBUG..DF_LOG_ERROR); a no-op without DF_ENABLE_LOG. */
void df_log(int32_t level, const char *message);
void df_log_n(int32_t level, const void *message, uint32_t len);
/* Log `message` as an error, then trap: for states that must never happen. */
__attribute__((noreturn)) void df_panic(const char *message);

/* ---- Your callbacks ------------------------------------------------------------------ */

df_status df_on_init(const df_params *params);
df_status df_on_batch(const df_batch *in, df_output *out);
#ifdef DF_ENABLE_FLUSH
df_status df_on_flush(df_output *out);
#endif
#ifdef DF_ENABLE_STATE
df_status df_on_snapshot(df_buffer *state);
df_status df_on_restore(df_bytes state);
#endif

#ifdef __cplusplus
}
#endif

#ifndef DF_DECLARATIONS_ONLY
/* ==== Implementation ===========================================================
 * Everything below is the SDK's own business; names starting with df__ may
 * change between SDK releases. wasm32 is little-endian, so a byte copy into an
 * integer reads the batch's little-endian fields, with no alignment assumption. */

#define DF__PAGE 65536u
#define DF__CHUNK_HEADER 16u
#define DF__MAX_MESSAGE 240u
#define DF__EXPORT(name) __attribute__((export_name(#name)))

typedef struct df__chunk {
    struct df__chunk *next;
    uint32_t size; /* bytes, header included */
    uint32_t used; /* bytes in use, header included */
} df__chunk;

/* A list of chunks from memory.grow, each used from the bottom up. Reset marks
 * them all empty; they are kept for the next round, so memory never shrinks
 * but stops growing once the plugin's largest call fits. */
typedef struct {
    df__chunk *first, *last, *top; /* top: where the last allocation was made */
} df__arena;

/* One output column. `source` is the input column it is carried from, or -1. */
typedef struct {
    uint32_t type;
    int32_t source;
    uint32_t filled; /* records that have a value */
    uint32_t offset; /* where its values go in the output batch */
    uint8_t name_len;
    uint8_t name[23];
    df__vec values;
} df__outcol;

static struct {
    df__arena call, state, params; /* params: the parameter copy, never reset */
    uint8_t *reserve;
    uint32_t reserve_cap;
    df__vec errors; /* u32 n, then the entries */
    uint32_t nerrors;
    uint32_t error_limit; /* record errors may name input records below this */
    bool oom;
    df_status fatal;
    uint32_t fatal_len;
    uint8_t fatal_msg[DF__MAX_MESSAGE];
    df_params param_view;
    uint32_t result[5];
    uint8_t fatal_block[16 + DF__MAX_MESSAGE];
} df__g;

static inline uint16_t df__u16(const uint8_t *p) { uint16_t v; __builtin_memcpy(&v, p, 2); return v; }
static inline uint32_t df__u32(const uint8_t *p) { uint32_t v; __builtin_memcpy(&v, p, 4); return v; }
static inline uint64_t df__u64(const uint8_t *p) { uint64_t v; __builtin_memcpy(&v, p, 8); return v; }
static inline void df__put32(uint8_t *p, uint32_t v) { __builtin_memcpy(p, &v, 4); }
static inline uint64_t df__align8(uint64_t n) { return (n + 7u) & ~(uint64_t)7u; }

static uint32_t df__strlen(const char *s) {
    uint32_t n = 0;
    if (s)
        while (s[n]) n++;
    return n;
}

static bool df__memeq(const uint8_t *a, const uint8_t *b, uint32_t n) {
    for (uint32_t i = 0; i < n; i++)
        if (a[i] != b[i]) return false;
    return true;
}

/* ---- Memory: pages from memory.grow, carved by two bump arenas ----------------- */

static uint8_t *df__grow(uint64_t bytes, uint32_t *got) {
    uint64_t pages = (bytes + DF__PAGE - 1) / DF__PAGE;
    if (pages == 0) pages = 1;
    if (pages >= 65536u) return NULL;
    size_t old = __builtin_wasm_memory_grow(0, (size_t)pages);
    if (old == (size_t)-1) return NULL; /* the host's memory limit: -1, not a trap */
    *got = (uint32_t)(pages * DF__PAGE);
    return (uint8_t *)(uintptr_t)(old * DF__PAGE);
}

static void *df__chunk_take(df__arena *a, df__chunk *c, uint64_t need) {
    uint8_t *p = (uint8_t *)c + c->used;
    c->used += (uint32_t)need;
    a->top = c;
    return p;
}

static void *df__arena_alloc(df__arena *a, uint64_t size) {
    uint64_t need = df__align8(size);
    if (a->top && need <= a->top->size - a->top->used) return df__chunk_take(a, a->top, need);
    /* First fit: the tail of every chunk is still usable. */
    for (df__chunk *c = a->first; c; c = c->next)
        if (need <= c->size - c->used) return df__chunk_take(a, c, need);
    uint64_t want = DF__CHUNK_HEADER + need;
    uint64_t step = a->last ? (uint64_t)a->last->size * 2u : DF__PAGE;
    if (step > (4u << 20)) step = 4u << 20; /* bounds the overshoot past what is used */
    uint32_t got = 0;
    uint8_t *mem = step > want ? df__grow(step, &got) : NULL;
    if (!mem) mem = df__grow(want, &got);
    if (!mem) {
        df__g.oom = true;
        return NULL;
    }
    df__chunk *c = (df__chunk *)mem;
    c->next = NULL;
    c->size = got;
    c->used = DF__CHUNK_HEADER;
    if (a->last) a->last->next = c;
    else a->first = c;
    a->last = c;
    return df__chunk_take(a, c, need);
}

static void df__arena_reset(df__arena *a) {
    for (df__chunk *c = a->first; c; c = c->next) c->used = DF__CHUNK_HEADER;
    a->top = a->first;
}

/* Grow the arena's last allocation in place when it is `p` and there is room. */
static bool df__arena_extend(df__arena *a, uint8_t *p, uint64_t old_size, uint64_t new_size) {
    df__chunk *c = a->top;
    if (!c || p + df__align8(old_size) != (uint8_t *)c + c->used) return false;
    uint64_t extra = df__align8(new_size) - df__align8(old_size);
    if (extra > c->size - c->used) return false;
    c->used += (uint32_t)extra;
    return true;
}

void *df_alloc(uint32_t size) { return df__arena_alloc(&df__g.call, size); }
void *df_state_alloc(uint32_t size) { return df__arena_alloc(&df__g.state, size); }
void df_state_reset(void) { df__arena_reset(&df__g.state); }

df_bytes df_state_dup(df_bytes bytes) {
    df_bytes copy = {NULL, 0};
    if (bytes.len == 0) return copy;
    uint8_t *p = (uint8_t *)df_state_alloc(bytes.len);
    if (!p) return copy;
    __builtin_memcpy(p, bytes.ptr, bytes.len);
    copy.ptr = p;
    copy.len = bytes.len;
    return copy;
}

/* Growable byte vectors in the per-call arena. */
static bool df__vec_reserve(df__vec *v, uint64_t extra) {
    uint64_t need = (uint64_t)v->len + extra;
    if (need <= v->cap) return true;
    if (need > 0xFFFFFF00u) {
        df__g.oom = true;
        return false;
    }
    uint64_t cap = v->cap ? (uint64_t)v->cap * 2u : 64u;
    if (cap < need || cap > 0xFFFFFF00u) cap = need;
    cap = df__align8(cap);
    if (v->ptr && df__arena_extend(&df__g.call, v->ptr, v->cap, cap)) {
        v->cap = (uint32_t)cap;
        return true;
    }
    uint8_t *p = (uint8_t *)df__arena_alloc(&df__g.call, cap);
    if (!p) return false;
    if (v->len) __builtin_memcpy(p, v->ptr, v->len);
    v->ptr = p;
    v->cap = (uint32_t)cap;
    return true;
}

static bool df__vec_put(df__vec *v, const void *data, uint32_t len) {
    if (!df__vec_reserve(v, len)) return false;
    if (len) __builtin_memcpy(v->ptr + v->len, data, len);
    v->len += len;
    return true;
}

static bool df__vec_u32(df__vec *v, uint32_t value) { return df__vec_put(v, &value, 4); }

/* ---- Fatal messages: kept in static memory so that even out-of-memory has one --- */

static bool df__fatal_open;

static void df__fatal_begin(df_status status) {
    df__fatal_open = df__g.fatal == 0; /* the first failure is the one reported */
    if (df__fatal_open) {
        df__g.fatal = status;
        df__g.fatal_len = 0;
    }
}

static void df__fatal_add(const void *text, uint32_t len) {
    if (!df__fatal_open) return;
    uint32_t room = DF__MAX_MESSAGE - df__g.fatal_len;
    if (len > room) len = room;
    __builtin_memcpy(df__g.fatal_msg + df__g.fatal_len, text, len);
    df__g.fatal_len += len;
}

static void df__fatal_str(const char *text) { df__fatal_add(text, df__strlen(text)); }

static void df__fatal_num(uint64_t value) {
    char buf[20];
    df__fatal_add(buf, df_format_i64((int64_t)value, buf));
}

static df_status df__fail(df_status status, const char *message) {
    df__fatal_begin(status);
    df__fatal_str(message);
    return status;
}

df_status df_fail(df_status status, const char *message) {
    if (status < DF_BAD_INPUT) status = DF_PLUGIN_FAILED;
    return df__fail(status, message);
}

df_status df_config_error(const char *message) { return df__fail(DF_BAD_CONFIG, message); }

static void df__misuse_column(const char *before, const df__outcol *col, const char *after) {
    df__fatal_begin(DF_MISUSE);
    df__fatal_str(before);
    df__fatal_add(col->name, col->name_len);
    df__fatal_str(after);
}

/* ---- Text and numbers ------------------------------------------------------------ */

df_bytes df_str(const char *s) {
    df_bytes b = {(const uint8_t *)s, df__strlen(s)};
    return b;
}

bool df_bytes_eq(df_bytes a, df_bytes b) { return a.len == b.len && df__memeq(a.ptr, b.ptr, a.len); }

int64_t df_bytes_find(df_bytes haystack, df_bytes needle) {
    if (needle.len > haystack.len) return -1;
    for (uint32_t i = 0; i <= haystack.len - needle.len; i++)
        if (df__memeq(haystack.ptr + i, needle.ptr, needle.len)) return i;
    return -1;
}

bool df_utf8_valid(df_bytes t) {
    uint32_t i = 0;
    while (i < t.len) {
        uint8_t c = t.ptr[i];
        uint32_t n;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c < 0x80) { i++; continue; }
        else if (c >= 0xC2 && c <= 0xDF) n = 1;
        else if (c >= 0xE0 && c <= 0xEF) { n = 2; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
        else if (c >= 0xF0 && c <= 0xF4) { n = 3; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
        else return false;
        if (n > t.len - i - 1) return false;
        for (uint32_t k = 1; k <= n; k++) {
            uint8_t d = t.ptr[i + k];
            if (d < (k == 1 ? lo : 0x80) || d > (k == 1 ? hi : 0xBF)) return false;
        }
        i += n + 1;
    }
    return true;
}

bool df_parse_i64(df_bytes t, int64_t *value) {
    uint32_t i = 0;
    bool neg = false;
    if (i < t.len && (t.ptr[i] == '+' || t.ptr[i] == '-')) neg = t.ptr[i++] == '-';
    if (i == t.len) return false;
    uint64_t limit = neg ? (uint64_t)1 << 63 : ((uint64_t)1 << 63) - 1, v = 0;
    for (; i < t.len; i++) {
        uint8_t d = (uint8_t)(t.ptr[i] - '0');
        if (d > 9 || v > (limit - d) / 10) return false;
        v = v * 10 + d;
    }
    *value = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

bool df_parse_f64(df_bytes t, double *value) {
    static const double p10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    uint32_t i = 0, digits = 0;
    bool neg = false;
    uint64_t mant = 0;
    int64_t exp10 = 0;
    if (i < t.len && (t.ptr[i] == '+' || t.ptr[i] == '-')) neg = t.ptr[i++] == '-';
    for (int part = 0; part < 2; part++) {
        for (; i < t.len && (uint8_t)(t.ptr[i] - '0') <= 9; i++, digits++) {
            if (mant < 100000000000000000ull) {
                mant = mant * 10 + (uint8_t)(t.ptr[i] - '0');
                exp10 -= part; /* digits after the point scale down */
            } else {
                exp10 += 1 - part; /* digits past 17 only scale */
            }
        }
        if (part == 0 && i < t.len && t.ptr[i] == '.') i++;
        else break;
    }
    if (digits == 0) return false;
    if (i < t.len && (t.ptr[i] == 'e' || t.ptr[i] == 'E')) {
        bool eneg = false;
        int64_t e = 0;
        i++;
        if (i < t.len && (t.ptr[i] == '+' || t.ptr[i] == '-')) eneg = t.ptr[i++] == '-';
        if (i == t.len) return false;
        for (; i < t.len && (uint8_t)(t.ptr[i] - '0') <= 9; i++)
            if (e < 100000) e = e * 10 + (t.ptr[i] - '0');
        exp10 += eneg ? -e : e;
    }
    if (i != t.len) return false;
    double v = (double)mant;
    if (v != 0) {
        for (; exp10 > 22 && v - v == 0; exp10 -= 22) v *= 1e22;
        for (; exp10 < -22 && v != 0; exp10 += 22) v /= 1e22;
        if (exp10 > 0 && exp10 <= 22) v *= p10[exp10];
        if (exp10 < 0 && exp10 >= -22) v /= p10[-exp10];
    }
    if (v - v != 0) return false; /* infinity */
    *value = neg ? -v : v;
    return true;
}

uint32_t df_format_i64(int64_t value, char buf[20]) {
    char tmp[20];
    uint32_t n = 0, len = 0;
    uint64_t mag = value < 0 ? 0 - (uint64_t)value : (uint64_t)value;
    do {
        tmp[n++] = (char)('0' + mag % 10);
        mag /= 10;
    } while (mag);
    if (value < 0) buf[len++] = '-';
    while (n) buf[len++] = tmp[--n];
    return len;
}

/* ---- Checking and reading batches ---------------------------------------------------- */

static uint32_t df__hash(const uint8_t *p, uint32_t n) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (uint32_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

/* A KV block as the kernel reads it: entries inside the block and filling it,
 * UTF-8 keys and values, no key twice (a hash table past 8 entries keeps that
 * linear; out of memory for it makes the call status 3). */
static bool df__kv_ok(const uint8_t *d, uint32_t len) {
    if (len == 0) return true;
    if (len < 4) return false;
    uint32_t n = df__u32(d), pos = 4, slots = 16;
    if (n > (len - 4) / 8) return false;
    while (slots < 2 * n) slots *= 2;
    uint32_t *table = NULL; /* where each key's length field is; 0 = empty slot */
    if (n > 8) {
        table = (uint32_t *)df__arena_alloc(&df__g.call, 4 * (uint64_t)slots);
        if (!table) return false;
        __builtin_memset(table, 0, 4 * (size_t)slots);
    }
    for (uint32_t k = 0; k < n; k++) {
        uint32_t key_at = pos;
        for (int part = 0; part < 2; part++) {
            if (len - pos < 4) return false;
            df_bytes text = {d + pos + 4, df__u32(d + pos)};
            pos += 4;
            if (text.len > len - pos || !df_utf8_valid(text)) return false;
            pos += text.len;
        }
        df_bytes key = {d + key_at + 4, df__u32(d + key_at)};
        if (table) {
            uint32_t slot = df__hash(key.ptr, key.len) & (slots - 1);
            for (; table[slot]; slot = (slot + 1) & (slots - 1)) {
                df_bytes seen = {d + table[slot] + 4, df__u32(d + table[slot])};
                if (df_bytes_eq(seen, key)) return false;
            }
            table[slot] = key_at;
            continue;
        }
        for (uint32_t at = 4; at < key_at;) { /* at most 8 entries: compare with each */
            df_bytes seen = {d + at + 4, df__u32(d + at)};
            if (df_bytes_eq(seen, key)) return false;
            at += 4 + seen.len;
            at += 4 + df__u32(d + at);
        }
    }
    return pos == len;
}

bool df_kv_get(df_bytes block, const char *name, df_bytes *value) {
    df_bytes want = df_str(name);
    const uint8_t *d = block.ptr;
    uint32_t len = block.len, pos = 4;
    if (len < 4) return false;
    for (uint32_t n = df__u32(d); n > 0; n--) {
        df_bytes part[2];
        for (int k = 0; k < 2; k++) {
            if (len - pos < 4) return false;
            part[k].len = df__u32(d + pos);
            pos += 4;
            if (part[k].len > len - pos) return false;
            part[k].ptr = d + pos;
            pos += part[k].len;
        }
        if (df_bytes_eq(part[0], want)) {
            if (value) *value = part[1];
            return true;
        }
    }
    return false;
}

static bool df__section(uint64_t start, uint64_t size, uint32_t total) {
    return start % 8 == 0 && start >= 64 && start + size <= total;
}

static bool df__offsets(const uint8_t *d, uint32_t at, uint32_t count, uint32_t data_at, uint32_t total) {
    uint32_t prev = df__u32(d + at);
    if (prev != 0) return false;
    for (uint32_t i = 1; i <= count; i++) {
        uint32_t cur = df__u32(d + at + 4 * (uint64_t)i);
        if (cur < prev) return false;
        prev = cur;
    }
    return (uint64_t)data_at + prev <= total;
}

static const char *df__check(df_batch *b, const uint8_t *d, uint32_t len) {
    __builtin_memset(b, 0, sizeof *b);
    if (len >= 4 && !(d[0] == 'D' && d[1] == 'F' && d[2] == 'R' && d[3] == 'B'))
        return "bad magic: these bytes are not a record batch (expected \"DFRB\")";
    if (len < 8) return "truncated: shorter than the 64-byte header";
    uint16_t version = df__u16(d + 4);
    if (version > 1)
        return "layout version is newer than this SDK supports (1): rebuild the plugin with a newer SDK";
    if (version < 1) return "version is 0; layout versions start at 1";
    if (len < 64) return "truncated: shorter than the 64-byte header";
    if (df__u16(d + 6) != 64) return "header_size is not 64";
    if (df__u32(d + 16) != len) return "total_len is not the length of the batch (truncated, or extra bytes)";
    if (df__u32(d + 60) != 0) return "reserved is not 0";
    b->ts_off = df__u32(d + 20);
    b->key_offs_off = df__u32(d + 24);
    b->value_offs_off = df__u32(d + 28);
    b->hdr_offs_off = df__u32(d + 32);
    b->cols_off = df__u32(d + 36);
    b->key_data_off = df__u32(d + 40);
    b->value_data_off = df__u32(d + 44);
    b->hdr_data_off = df__u32(d + 48);
    b->meta_off = df__u32(d + 52);
    b->meta_len = df__u32(d + 56);
    b->data = d;
    b->len = len;
    b->count = df__u32(d + 8);
    b->ncols = df__u32(d + 12);
    uint64_t n = b->count;
    if (!df__section(b->ts_off, 8 * n, len)) return "ts_off: the timestamps lie outside the batch or are misaligned";
    if (!df__section(b->key_offs_off, 4 * (n + 1), len)) return "key_offs_off: the key offsets lie outside the batch or are misaligned";
    if (!df__section(b->value_offs_off, 4 * (n + 1), len)) return "value_offs_off: the value offsets lie outside the batch or are misaligned";
    if (!df__section(b->hdr_offs_off, 4 * (n + 1), len)) return "hdr_offs_off: the header offsets lie outside the batch or are misaligned";
    if (!df__section(b->cols_off, 32 * (uint64_t)b->ncols, len)) return "cols_off: the column directory lies outside the batch or is misaligned";
    if (!df__section(b->meta_off, b->meta_len, len)) return "meta_off: the metadata lies outside the batch or is misaligned";
    if (!df__section(b->key_data_off, 0, len) || !df__offsets(d, b->key_offs_off, b->count, b->key_data_off, len))
        return "keys: an offset decreases, does not start at 0, or points past the end of the batch";
    if (!df__section(b->value_data_off, 0, len) || !df__offsets(d, b->value_offs_off, b->count, b->value_data_off, len))
        return "values: an offset decreases, does not start at 0, or points past the end of the batch";
    if (!df__section(b->hdr_data_off, 0, len) || !df__offsets(d, b->hdr_offs_off, b->count, b->hdr_data_off, len))
        return "headers: an offset decreases, does not start at 0, or points past the end of the batch";
    for (uint32_t c = 0; c < b->ncols; c++) {
        const uint8_t *e = d + b->cols_off + 32 * c;
        uint32_t type = df__u32(e), name_len = e[8];
        if (type != DF_I64 && type != DF_F64) return "a column has an unknown type";
        if (!df__section(df__u32(e + 4), 8 * n, len)) return "a column's values lie outside the batch or are misaligned";
        df_bytes name = {e + 9, name_len};
        if (name_len < 1 || name_len > 23 || !df_utf8_valid(name)) return "a column name is not 1 to 23 bytes of UTF-8 without NUL";
        for (uint32_t k = 0; k < name_len; k++)
            if (e[9 + k] == 0) return "a column name is not 1 to 23 bytes of UTF-8 without NUL";
        for (uint32_t p = 0; p < c; p++) {
            const uint8_t *o = d + b->cols_off + 32 * p;
            if (o[8] == name_len && df__memeq(o + 9, e + 9, name_len)) return "two columns have the same name";
        }
    }
    if (!df__kv_ok(d + b->meta_off, b->meta_len)) return "the metadata block is malformed";
    for (uint32_t i = 0; i < b->count; i++) {
        uint32_t lo = df__u32(d + b->hdr_offs_off + 4 * i), hi = df__u32(d + b->hdr_offs_off + 4 * i + 4);
        if (!df__kv_ok(d + b->hdr_data_off + lo, hi - lo)) return "a record's header block is malformed";
    }
    return NULL;
}

df_status df_batch_open(df_batch *batch, const uint8_t *data, uint32_t len, const char **why) {
    const char *problem = df__check(batch, data, len);
    if (why) *why = problem;
    return problem ? DF_BAD_INPUT : DF_OK;
}

uint32_t df_count(const df_batch *b) { return b->count; }

static df_bytes df__slice(const df_batch *b, uint32_t offs_at, uint32_t data_at, uint32_t i) {
    df_bytes r = {NULL, 0};
    if (i >= b->count) return r;
    uint32_t lo = df__u32(b->data + offs_at + 4 * i), hi = df__u32(b->data + offs_at + 4 * i + 4);
    r.ptr = b->data + data_at + lo;
    r.len = hi - lo;
    return r;
}

int64_t df_timestamp(const df_batch *b, uint32_t i) {
    return i < b->count ? (int64_t)df__u64(b->data + b->ts_off + 8 * i) : 0;
}
df_bytes df_key(const df_batch *b, uint32_t i) { return df__slice(b, b->key_offs_off, b->key_data_off, i); }
df_bytes df_value(const df_batch *b, uint32_t i) { return df__slice(b, b->value_offs_off, b->value_data_off, i); }

df_record df_get(const df_batch *b, uint32_t i) {
    df_record r;
    r.index = i;
    r.timestamp = df_timestamp(b, i);
    r.key = df_key(b, i);
    r.value = df_value(b, i);
    r.headers = df__slice(b, b->hdr_offs_off, b->hdr_data_off, i);
    return r;
}

bool df_header(const df_batch *b, uint32_t i, const char *name, df_bytes *value) {
    return df_kv_get(df__slice(b, b->hdr_offs_off, b->hdr_data_off, i), name, value);
}

df_bytes df_metadata(const df_batch *b) {
    df_bytes m = {b->data ? b->data + b->meta_off : NULL, b->meta_len};
    return m;
}

df_iter df_iter_begin(const df_batch *batch) {
    df_iter it = {batch, 0};
    return it;
}

bool df_next(df_iter *it, df_record *record) {
    if (it->next >= it->batch->count) return false;
    *record = df_get(it->batch, it->next++);
    return true;
}

bool df_column_find(const df_batch *b, const char *name, df_column *column) {
    df_bytes want = df_str(name);
    for (uint32_t c = 0; c < b->ncols; c++) {
        const uint8_t *e = b->data + b->cols_off + 32 * c;
        df_bytes have = {e + 9, e[8]};
        if (df_bytes_eq(have, want)) {
            column->type = df__u32(e);
            column->name = have;
            column->data = b->data + df__u32(e + 4);
            column->count = b->count;
            return true;
        }
    }
    return false;
}

int64_t df_column_i64(const df_column *column, uint32_t i) {
    if (i >= column->count || column->type != DF_I64) return 0;
    return (int64_t)df__u64(column->data + 8 * i);
}

double df_column_f64(const df_column *column, uint32_t i) {
    if (i >= column->count) return 0;
    uint64_t bits = df__u64(column->data + 8 * i);
    if (column->type == DF_I64) return (double)(int64_t)bits;
    double v;
    __builtin_memcpy(&v, &bits, 8);
    return v;
}

/* ---- Parameters ------------------------------------------------------------------------ */

bool df_param(const df_params *params, const char *name, df_bytes *value) {
    return df_kv_get(params->block, name, value);
}

df_bytes df_param_or(const df_params *params, const char *name, const char *fallback) {
    df_bytes v;
    return df_param(params, name, &v) ? v : df_str(fallback);
}

df_status df_params_allow(const df_params *params, const char *const *known, uint32_t nknown) {
    df_bytes b = params->block;
    uint32_t pos = 4;
    if (b.len < 4) return DF_OK;
    for (uint32_t n = df__u32(b.ptr); n > 0; n--) { /* the block was checked in df_init */
        df_bytes key = {b.ptr + pos + 4, df__u32(b.ptr + pos)};
        pos += 4 + key.len;
        pos += 4 + df__u32(b.ptr + pos);
        bool ok = false;
        for (uint32_t k = 0; k < nknown && !ok; k++) ok = df_bytes_eq(key, df_str(known[k]));
        if (ok) continue;
        df__fatal_begin(DF_BAD_CONFIG);
        df__fatal_str("unknown parameter '");
        df__fatal_add(key.ptr, key.len);
        df__fatal_str(nknown ? "'; known parameters: " : "'; this plugin takes no parameters");
        for (uint32_t k = 0; k < nknown; k++) {
            if (k) df__fatal_str(", ");
            df__fatal_str(known[k]);
        }
        return DF_BAD_CONFIG;
    }
    return DF_OK;
}

/* ---- Errors ----------------------------------------------------------------------------- */

bool df_record_error_n(uint32_t index, uint32_t code, const void *message, uint32_t len) {
    if (index >= df__g.error_limit) {
        df__fatal_begin(DF_MISUSE);
        df__fatal_str("df_record_error: index ");
        df__fatal_num(index);
        df__fatal_str(" is not an input record of this batch (df_record_error is for df_on_batch)");
        return false;
    }
    df_bytes text = {(const uint8_t *)message, message ? len : 0};
    if (!df_utf8_valid(text)) text = DF_STR("(the plugin's message was not valid UTF-8)");
    if (df__g.errors.len == 0 && !df__vec_u32(&df__g.errors, 0)) return false;
    if (!df__vec_reserve(&df__g.errors, 12 + (uint64_t)text.len)) return false;
    df__vec_u32(&df__g.errors, index);
    df__vec_u32(&df__g.errors, code);
    df__vec_u32(&df__g.errors, text.len);
    df__vec_put(&df__g.errors, text.ptr, text.len);
    df__g.nerrors++;
    return true;
}

bool df_record_error(uint32_t index, uint32_t code, const char *message) {
    return df_record_error_n(index, code, message, df__strlen(message));
}

/* ---- Output --------------------------------------------------------------------------------- */

static df__outcol *df__cols(const df_output *out) { return (df__outcol *)out->cols.ptr; }

static bool df__healthy(void) { return !df__g.oom && df__g.fatal == 0; }

static void df__output_init(df_output *out, const df_batch *in) {
    __builtin_memset(out, 0, sizeof *out);
    out->input = in;
    uint64_t n = in ? in->count : 0;
    if (in) { /* room for one output record per input record; data regions grow as needed */
        df__vec_reserve(&out->ts, 8 * n);
        out->meta = df_metadata(in);
    }
    df__vec *offsets[3] = {&out->key_offs, &out->value_offs, &out->hdr_offs};
    for (int k = 0; k < 3; k++) {
        df__vec_reserve(offsets[k], 4 * (n + 1));
        df__vec_u32(offsets[k], 0);
    }
    for (uint32_t c = 0; in && c < in->ncols; c++) {
        const uint8_t *e = in->data + in->cols_off + 32 * c;
        df__outcol col;
        __builtin_memset(&col, 0, sizeof col);
        col.type = df__u32(e);
        col.source = (int32_t)c;
        col.name_len = e[8];
        __builtin_memcpy(col.name, e + 9, e[8]);
        df__vec_reserve(&col.values, 8 * n);
        if (df__vec_put(&out->cols, &col, sizeof col)) out->ncols++;
    }
}

/* Every column of the record emitted last must have its value before the next one. */
static bool df__complete(const df_output *out) {
    for (uint32_t c = 0; c < out->ncols; c++) {
        const df__outcol *col = &df__cols(out)[c];
        if (col->filled == out->count) continue;
        df__misuse_column("output column '", col, "' has no value for output record ");
        df__fatal_num(out->count - 1);
        df__fatal_str(": call df_set_i64/df_set_f64 after each emit (the SDK never invents a 0)");
        return false;
    }
    return true;
}

bool df_emit(df_output *out, uint32_t source, int64_t timestamp, const void *key,
             uint32_t key_len, const void *value, uint32_t value_len) {
    if (!df__healthy()) return false;
    bool sourced = source != DF_NO_SOURCE;
    if (sourced && (!out->input || source >= out->input->count)) {
        df__fatal_begin(DF_MISUSE);
        df__fatal_str("df_emit: source ");
        df__fatal_num(source);
        df__fatal_str(" is not an input record index; use DF_NO_SOURCE for a record of your own");
        return false;
    }
    if ((key_len && !key) || (value_len && !value))
        return df__fail(DF_MISUSE, "df_emit: a NULL key or value with a nonzero length"), false;
    if (!df__complete(out)) return false;
    df_bytes headers = {NULL, 0};
    if (sourced) headers = df_get(out->input, source).headers;
    bool ok = df__vec_put(&out->ts, &timestamp, 8) && df__vec_put(&out->key_data, key, key_len) &&
              df__vec_u32(&out->key_offs, out->key_data.len) &&
              df__vec_put(&out->value_data, value, value_len) &&
              df__vec_u32(&out->value_offs, out->value_data.len) &&
              df__vec_put(&out->hdr_data, headers.ptr, headers.len) &&
              df__vec_u32(&out->hdr_offs, out->hdr_data.len);
    for (uint32_t c = 0; ok && c < out->ncols; c++) {
        df__outcol *col = &df__cols(out)[c];
        uint64_t v = 0;
        if (sourced && col->source >= 0) {
            const uint8_t *e = out->input->data + out->input->cols_off + 32 * (uint32_t)col->source;
            v = df__u64(out->input->data + df__u32(e + 4) + 8 * (uint64_t)source);
            col->filled++;
        }
        ok = df__vec_put(&col->values, &v, 8);
    }
    if (!ok) return false; /* out of memory: the call answers status 3 */
    out->count++;
    return true;
}

bool df_emit_input(df_output *out, uint32_t i) {
    if (!out->input || i >= out->input->count) {
        df__fatal_begin(DF_MISUSE);
        df__fatal_str("df_emit_input: ");
        df__fatal_num(i);
        df__fatal_str(" is not an input record index");
        return false;
    }
    df_record r = df_get(out->input, i);
    return df_emit(out, i, r.timestamp, r.key.ptr, r.key.len, r.value.ptr, r.value.len);
}

bool df_output_drop_columns(df_output *out) {
    if (out->count) return df__fail(DF_MISUSE, "df_output_drop_columns: call it before the first emit"), false;
    out->ncols = 0;
    out->cols.len = 0;
    return true;
}

int32_t df_output_column(const df_output *out, const char *name) {
    df_bytes want = df_str(name);
    for (uint32_t c = 0; c < out->ncols; c++) {
        df_bytes have = {df__cols(out)[c].name, df__cols(out)[c].name_len};
        if (df_bytes_eq(have, want)) return (int32_t)c;
    }
    return -1;
}

int32_t df_output_add_column(df_output *out, const char *name, uint32_t type) {
    df_bytes b = df_str(name);
    if (out->count) return df__fail(DF_MISUSE, "df_output_add_column: call it before the first emit"), -1;
    if (type != DF_I64 && type != DF_F64) return df__fail(DF_MISUSE, "df_output_add_column: type must be DF_I64 or DF_F64"), -1;
    if (b.len < 1 || b.len > 23 || !df_utf8_valid(b))
        return df__fail(DF_MISUSE, "df_output_add_column: a column name is 1 to 23 bytes of UTF-8"), -1;
    if (df_output_column(out, name) >= 0) {
        df__fatal_begin(DF_MISUSE);
        df__fatal_str("df_output_add_column: the output already has a column '");
        df__fatal_add(b.ptr, b.len);
        df__fatal_str("'");
        return -1;
    }
    df__outcol col;
    __builtin_memset(&col, 0, sizeof col);
    col.type = type;
    col.source = -1;
    col.name_len = (uint8_t)b.len;
    __builtin_memcpy(col.name, b.ptr, b.len);
    if (!df__vec_put(&out->cols, &col, sizeof col)) return -1;
    return (int32_t)out->ncols++;
}

static df__outcol *df__settable(df_output *out, int32_t column, uint32_t type) {
    if (!df__healthy()) return NULL;
    if (out->count == 0) return df__fail(DF_MISUSE, "df_set_i64/df_set_f64: emit a record first"), NULL;
    if (column < 0 || (uint32_t)column >= out->ncols)
        return df__fail(DF_MISUSE, "df_set_i64/df_set_f64: no output column with that handle"), NULL;
    df__outcol *col = &df__cols(out)[column];
    if (col->type != type) {
        df__misuse_column("output column '", col, type == DF_I64 ? "' is f64: use df_set_f64" : "' is i64: use df_set_i64");
        return NULL;
    }
    if (col->filled + 1 == out->count) col->filled++;
    return col;
}

bool df_set_i64(df_output *out, int32_t column, int64_t value) {
    df__outcol *col = df__settable(out, column, DF_I64);
    if (col) __builtin_memcpy(col->values.ptr + 8 * (out->count - 1), &value, 8);
    return col != NULL;
}

bool df_set_f64(df_output *out, int32_t column, double value) {
    df__outcol *col = df__settable(out, column, DF_F64);
    if (col) __builtin_memcpy(col->values.ptr + 8 * (out->count - 1), &value, 8);
    return col != NULL;
}

static uint64_t df__place(uint64_t *pos, uint64_t size) {
    uint64_t start = *pos;
    *pos = df__align8(start + size);
    return start;
}

/* Lay the output out exactly as the kernel's writer does: sections in header order
 * (column values after the directory), each 8-byte aligned, zero padding. */
static void df__finalize(df_output *out, uint32_t *ptr, uint32_t *len) {
    *ptr = *len = 0;
    if (out->count == 0 || !df__complete(out)) return;
    uint64_t n = out->count, pos = 64;
    uint64_t at[9];
    at[0] = df__place(&pos, 8 * n);
    at[1] = df__place(&pos, 4 * (n + 1));
    at[2] = df__place(&pos, 4 * (n + 1));
    at[3] = df__place(&pos, 4 * (n + 1));
    at[4] = df__place(&pos, 32 * (uint64_t)out->ncols);
    for (uint32_t c = 0; c < out->ncols; c++) df__cols(out)[c].offset = (uint32_t)df__place(&pos, 8 * n);
    at[5] = df__place(&pos, out->key_data.len);
    at[6] = df__place(&pos, out->value_data.len);
    at[7] = df__place(&pos, out->hdr_data.len);
    at[8] = df__place(&pos, out->meta.len);
    if (pos > 0xFFFFFFF8u) { /* cannot exist in a 32-bit memory either */
        df__g.oom = true;
        return;
    }
    uint8_t *b = (uint8_t *)df__arena_alloc(&df__g.call, pos);
    if (!b) return;
    __builtin_memset(b, 0, (size_t)pos); /* pos fits: checked above */
    __builtin_memcpy(b, "DFRB", 4);
    uint16_t shorts[2] = {1, 64};
    __builtin_memcpy(b + 4, shorts, 4);
    uint32_t head[13] = {out->count, out->ncols, (uint32_t)pos, (uint32_t)at[0], (uint32_t)at[1],
                         (uint32_t)at[2], (uint32_t)at[3], (uint32_t)at[4], (uint32_t)at[5],
                         (uint32_t)at[6], (uint32_t)at[7], (uint32_t)at[8], out->meta.len};
    __builtin_memcpy(b + 8, head, sizeof head);
    const df__vec *parts[7] = {&out->ts, &out->key_offs, &out->value_offs, &out->hdr_offs,
                               &out->key_data, &out->value_data, &out->hdr_data};
    const int where[7] = {0, 1, 2, 3, 5, 6, 7};
    for (int k = 0; k < 7; k++)
        if (parts[k]->len) __builtin_memcpy(b + at[where[k]], parts[k]->ptr, parts[k]->len);
    for (uint32_t c = 0; c < out->ncols; c++) {
        const df__outcol *col = &df__cols(out)[c];
        uint8_t *e = b + at[4] + 32 * c;
        df__put32(e, col->type);
        df__put32(e + 4, col->offset);
        e[8] = col->name_len;
        __builtin_memcpy(e + 9, col->name, col->name_len);
        __builtin_memcpy(b + col->offset, col->values.ptr, (size_t)(8 * n));
    }
    if (out->meta.len) __builtin_memcpy(b + at[8], out->meta.ptr, out->meta.len);
    *ptr = (uint32_t)(uintptr_t)b;
    *len = (uint32_t)pos;
}

/* ---- State buffers and cursors ------------------------------------------------------------ */

bool df_buffer_append(df_buffer *buffer, const void *data, uint32_t len) {
    return df__vec_put(&buffer->bytes, data, len);
}
bool df_buffer_u32(df_buffer *buffer, uint32_t value) { return df__vec_put(&buffer->bytes, &value, 4); }
bool df_buffer_u64(df_buffer *buffer, uint64_t value) { return df__vec_put(&buffer->bytes, &value, 8); }
bool df_buffer_bytes(df_buffer *buffer, df_bytes bytes) {
    return df_buffer_u32(buffer, bytes.len) && df_buffer_append(buffer, bytes.ptr, bytes.len);
}

df_cursor df_cursor_of(df_bytes bytes) {
    df_cursor c = {bytes, true};
    return c;
}

static bool df__take(df_cursor *c, uint32_t n, df_bytes *out) {
    if (!c->ok || n > c->rest.len) return c->ok = false;
    out->ptr = c->rest.ptr;
    out->len = n;
    c->rest.ptr += n;
    c->rest.len -= n;
    return true;
}

bool df_read_u32(df_cursor *c, uint32_t *value) {
    df_bytes b;
    if (!df__take(c, 4, &b)) return false;
    *value = df__u32(b.ptr);
    return true;
}

bool df_read_u64(df_cursor *c, uint64_t *value) {
    df_bytes b;
    if (!df__take(c, 8, &b)) return false;
    *value = df__u64(b.ptr);
    return true;
}

bool df_read_bytes(df_cursor *c, df_bytes *value) {
    uint32_t n;
    return df_read_u32(c, &n) && df__take(c, n, value);
}

bool df_cursor_done(const df_cursor *c) { return c->ok && c->rest.len == 0; }

/* ---- Logging ----------------------------------------------------------------------------------- */

#ifdef DF_ENABLE_LOG
__attribute__((import_module("df"), import_name("log"))) void df__host_log(int32_t level, const void *ptr, uint32_t len);
void df_log_n(int32_t level, const void *message, uint32_t len) { df__host_log(level, message, len); }
#else
void df_log_n(int32_t level, const void *message, uint32_t len) { (void)level, (void)message, (void)len; }
#endif

void df_log(int32_t level, const char *message) { df_log_n(level, message, df__strlen(message)); }

void df_panic(const char *message) {
    df_log(DF_LOG_ERROR, message);
    __builtin_trap();
}

/* ---- The ABI exports ----------------------------------------------------------------------------- */

static void df__begin(void) {
    df__arena_reset(&df__g.call);
    __builtin_memset(&df__g.errors, 0, sizeof df__g.errors);
    df__g.nerrors = 0;
    df__g.error_limit = 0;
    df__g.oom = false;
    df__g.fatal = 0;
    df__g.fatal_len = 0;
}

static bool df__in_memory(uint32_t ptr, uint32_t len) {
    return (uint64_t)ptr + len <= (uint64_t)__builtin_wasm_memory_size(0) * DF__PAGE;
}

static const uint8_t *df__at(uint32_t ptr) { return (const uint8_t *)(uintptr_t)ptr; }

/* Fill the result block. A failed call carries one message, at index 0. */
static uint32_t df__reply(df_status status, uint32_t out_ptr, uint32_t out_len, const char *who) {
    uint32_t *r = df__g.result;
    if (df__g.oom) {
        df__g.fatal = 0;
        df__fail(DF_NO_MEMORY, "out of memory: the plugin reached its memory limit (limits.memory_mb)");
    } else if (df__g.fatal == 0 && status != DF_OK) {
        df__fatal_begin(status);
        df__fatal_str(who);
        df__fatal_str(" returned status ");
        df__fatal_num(status);
    }
    if (df__g.fatal) {
        uint8_t *e = df__g.fatal_block;
        df__put32(e, 1);
        df__put32(e + 4, 0);
        df__put32(e + 8, df__g.fatal);
        df__put32(e + 12, df__g.fatal_len);
        __builtin_memcpy(e + 16, df__g.fatal_msg, df__g.fatal_len);
        r[0] = df__g.fatal, r[1] = 0, r[2] = 0;
        r[3] = (uint32_t)(uintptr_t)e, r[4] = 16 + df__g.fatal_len;
    } else {
        if (df__g.nerrors) df__put32(df__g.errors.ptr, df__g.nerrors);
        r[0] = DF_OK, r[1] = out_ptr, r[2] = out_len;
        r[3] = df__g.nerrors ? (uint32_t)(uintptr_t)df__g.errors.ptr : 0;
        r[4] = df__g.nerrors ? df__g.errors.len : 0;
    }
    return (uint32_t)(uintptr_t)r;
}

DF__EXPORT(df_abi_v1) void df_abi_v1(void) {}

DF__EXPORT(df_reserve) uint32_t df_reserve(uint32_t size) {
    if (df__g.reserve && size <= df__g.reserve_cap) return (uint32_t)(uintptr_t)df__g.reserve;
    uint64_t cap = df__g.reserve_cap ? (uint64_t)df__g.reserve_cap * 2u : DF__PAGE;
    while (cap < size) cap *= 2u;
    uint32_t got = 0;
    uint8_t *mem = df__grow(cap, &got);
    if (!mem) mem = df__grow(size, &got);
    if (!mem) return 0;
    df__g.reserve = mem; /* the old buffer is not reused: the host asks rarely, and doubling bounds the waste */
    df__g.reserve_cap = got;
    return (uint32_t)(uintptr_t)mem;
}

DF__EXPORT(df_init) uint32_t df_init(uint32_t ptr, uint32_t len) {
    df__begin();
    if (!df__in_memory(ptr, len)) return df__fail(DF_BAD_INPUT, "parameters: the block lies outside memory"), df__reply(0, 0, 0, "");
    df_bytes block = {len ? df__at(ptr) : NULL, len};
    if (!df__kv_ok(block.ptr, len)) return df__fail(DF_BAD_INPUT, "parameters: the KV block is malformed"), df__reply(0, 0, 0, "");
    uint8_t *copy = len ? (uint8_t *)df__arena_alloc(&df__g.params, len) : NULL;
    if (copy) __builtin_memcpy(copy, block.ptr, len); /* the host reuses its buffer for batches */
    df__g.param_view.block.ptr = copy;
    df__g.param_view.block.len = copy ? len : 0;
    df_status status = df__healthy() ? df_on_init(&df__g.param_view) : DF_NO_MEMORY;
    return df__reply(status, 0, 0, "df_on_init");
}

DF__EXPORT(df_process) uint32_t df_process(uint32_t ptr, uint32_t len) {
    df__begin();
    df_batch in;
    const char *why = df__in_memory(ptr, len) ? df__check(&in, len ? df__at(ptr) : NULL, len)
                                              : "the batch lies outside memory";
    if (why) {
        df__fatal_begin(DF_BAD_INPUT);
        df__fatal_str("input batch: ");
        df__fatal_str(why);
        return df__reply(DF_BAD_INPUT, 0, 0, "");
    }
    df__g.error_limit = in.count;
    df_output out;
    df__output_init(&out, &in);
    df_status status = df__healthy() ? df_on_batch(&in, &out) : DF_NO_MEMORY;
    uint32_t out_ptr = 0, out_len = 0;
    if (status == DF_OK && df__healthy()) df__finalize(&out, &out_ptr, &out_len);
    return df__reply(status, out_ptr, out_len, "df_on_batch");
}

#ifdef DF_ENABLE_FLUSH
DF__EXPORT(df_flush) uint32_t df_flush(void) {
    df__begin();
    df_output out;
    df__output_init(&out, NULL);
    df_status status = df__healthy() ? df_on_flush(&out) : DF_NO_MEMORY;
    uint32_t out_ptr = 0, out_len = 0;
    if (status == DF_OK && df__healthy()) df__finalize(&out, &out_ptr, &out_len);
    return df__reply(status, out_ptr, out_len, "df_on_flush");
}
#endif

#ifdef DF_ENABLE_STATE
DF__EXPORT(df_snapshot) uint32_t df_snapshot(void) {
    df__begin();
    df_buffer state;
    __builtin_memset(&state, 0, sizeof state);
    df_status status = df_on_snapshot(&state);
    return df__reply(status, (uint32_t)(uintptr_t)state.bytes.ptr, state.bytes.len, "df_on_snapshot");
}

DF__EXPORT(df_restore) uint32_t df_restore(uint32_t ptr, uint32_t len) {
    df__begin();
    if (!df__in_memory(ptr, len)) return df__fail(DF_BAD_INPUT, "state: the bytes lie outside memory"), df__reply(0, 0, 0, "");
    df_bytes state = {len ? df__at(ptr) : NULL, len};
    return df__reply(df_on_restore(state), 0, 0, "df_on_restore");
}
#endif
#endif /* DF_DECLARATIONS_ONLY */

#endif /* DATAFLARE_H */
