/* {{name}}: trims the spaces around each value and drops blank records (kind: filter_map).
 *
 * One output record, or none, per input record. A value that is not UTF-8 goes
 * to the dead-letter destination. dataflare.h documents the SDK; build and
 * package with `dataflare plugin build`. */
#include "dataflare.h"

enum { NOT_UTF8 = 1 }; /* this plugin's per-record error codes */

static bool is_space(uint8_t c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

df_status df_on_init(const df_params *params) {
    return df_params_allow(params, NULL, 0);
}

df_status df_on_batch(const df_batch *in, df_output *out) {
    df_record r;
    for (df_iter it = df_iter_begin(in); df_next(&it, &r);) {
        if (!df_utf8_valid(r.value)) {
            df_record_error(r.index, NOT_UTF8, "the value is not valid UTF-8");
            continue;
        }
        uint32_t start = 0, end = r.value.len;
        while (start < end && is_space(r.value.ptr[start])) start++;
        while (end > start && is_space(r.value.ptr[end - 1])) end--;
        if (start == end) continue; /* blank: no output */
        df_emit(out, r.index, r.timestamp, r.key.ptr, r.key.len, r.value.ptr + start, end - start);
    }
    return DF_OK;
}
