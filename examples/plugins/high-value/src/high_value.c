/* acme/high-value: keeps the records whose typed column `amount` is at least
 * the parameter `min` (kind: filter).
 *
 * `amount` may be an f64 or an i64 column; kept records pass through unchanged,
 * every column included. A batch without an `amount` column sends each of its
 * records to the dead-letter destination (code 1) rather than dropping them
 * silently. NaN amounts are never kept. */
#include "dataflare.h"

enum { NO_AMOUNT = 1 };

static double min;

df_status df_on_init(const df_params *params) {
    static const char *const known[] = {"min"};
    df_status status = df_params_allow(params, known, 1);
    if (status != DF_OK) return status;
    df_bytes text;
    if (!df_param(params, "min", &text)) return df_config_error("set the parameter 'min', e.g. \"100\"");
    if (!df_parse_f64(text, &min)) return df_config_error("parameter 'min' must be a number, e.g. \"99.5\"");
    return DF_OK;
}

df_status df_on_batch(const df_batch *in, df_output *out) {
    df_column amount;
    if (!df_column_find(in, "amount", &amount)) {
        for (uint32_t i = 0; i < df_count(in); i++)
            df_record_error(i, NO_AMOUNT, "the record has no typed column 'amount'");
        return DF_OK;
    }
    for (uint32_t i = 0; i < df_count(in); i++)
        if (df_column_f64(&amount, i) >= min) df_emit_input(out, i);
    return DF_OK;
}
