/* acme/split-words: one output record per whitespace-separated word of each
 * value (kind: flat_map).
 *
 * "the  quick\tfox" gives "the", "quick" and "fox". Each word keeps its input
 * record's key, time, headers and typed columns; a value with no words gives
 * no records. Whitespace is ASCII: space, \t, \n, \v, \f and \r. */
#include "dataflare.h"

static bool is_space(uint8_t c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

df_status df_on_init(const df_params *params) {
    return df_params_allow(params, NULL, 0);
}

df_status df_on_batch(const df_batch *in, df_output *out) {
    df_record r;
    for (df_iter it = df_iter_begin(in); df_next(&it, &r);) {
        uint32_t i = 0;
        while (i < r.value.len) {
            while (i < r.value.len && is_space(r.value.ptr[i])) i++;
            uint32_t start = i;
            while (i < r.value.len && !is_space(r.value.ptr[i])) i++;
            if (i > start)
                df_emit(out, r.index, r.timestamp, r.key.ptr, r.key.len, r.value.ptr + start, i - start);
        }
    }
    return DF_OK;
}
