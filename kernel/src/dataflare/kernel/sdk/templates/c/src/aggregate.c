/* {{name}}: counts the records it sees and emits the count when flushed (kind: aggregate).
 *
 * df_on_batch only counts; df_on_flush (the end of a window, or of the input)
 * emits one record whose value is the count in decimal and whose i64 column
 * `count` holds it, then starts again from zero. The host checkpoints the
 * count through df_on_snapshot and df_on_restore. dataflare.h documents the
 * SDK; build and package with `dataflare plugin build`. */
#define DF_ENABLE_FLUSH
#define DF_ENABLE_STATE
#include "dataflare.h"

static uint64_t seen;   /* records since the last flush */
static int64_t latest;  /* the latest event time seen */

df_status df_on_init(const df_params *params) {
    return df_params_allow(params, NULL, 0);
}

df_status df_on_batch(const df_batch *in, df_output *out) {
    (void)out; /* an aggregate emits from df_on_flush */
    for (uint32_t i = 0; i < df_count(in); i++)
        if (df_timestamp(in, i) > latest) latest = df_timestamp(in, i);
    seen += df_count(in);
    return DF_OK;
}

df_status df_on_flush(df_output *out) {
    if (seen == 0) return DF_OK;
    int32_t count = df_output_add_column(out, "count", DF_I64);
    char text[20];
    uint32_t len = df_format_i64((int64_t)seen, text);
    df_emit(out, DF_NO_SOURCE, latest, NULL, 0, text, len);
    df_set_i64(out, count, (int64_t)seen);
    seen = 0;
    return DF_OK;
}

df_status df_on_snapshot(df_buffer *state) {
    df_buffer_u64(state, seen);
    df_buffer_u64(state, (uint64_t)latest);
    return DF_OK;
}

df_status df_on_restore(df_bytes state) {
    df_cursor c = df_cursor_of(state);
    uint64_t count = 0, when = 0;
    if (state.len && !(df_read_u64(&c, &count) && df_read_u64(&c, &when) && df_cursor_done(&c)))
        return df_fail(DF_BAD_INPUT, "the state is not 16 bytes from df_on_snapshot");
    seen = count;
    latest = (int64_t)when;
    return DF_OK;
}
