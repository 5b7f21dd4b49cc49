//! dataflare.zig - the DataFlare plugin SDK for Zig 0.17, ABI `dataflare-batch/1`.
//!
//! It implements the contract of docs/plugin-abi.md (the exports, the result
//! block, the per-record error list, memory ownership), so that a plugin is a
//! file of plain functions:
//!
//!     const df = @import("dataflare");
//!
//!     pub fn init(params: df.Params) !void {
//!         try params.allow(&.{});
//!     }
//!
//!     /// Keep the records whose value is not empty.
//!     pub fn process(in: *const df.Batch, out: *df.Output) !void {
//!         var records = in.records();
//!         while (records.next()) |r| {
//!             if (r.value.len > 0) try out.emitInput(r.index);
//!         }
//!     }
//!
//!     comptime {
//!         df.plugin(@This());
//!     }
//!
//! `dataflare plugin build` compiles it for wasm32 and packages it.
//!
//! Functions the plugin declares (`df.plugin` exports the ABI around them):
//!
//!     pub fn init(params: df.Params) !void                          required
//!     pub fn process(in: *const df.Batch, out: *df.Output) !void    required
//!     pub fn flush(out: *df.Output) !void                           optional: exports df_flush
//!     pub fn snapshot(state: *df.Buffer) !void                      optional, with restore
//!     pub fn restore(state: []const u8) !void                       optional, with snapshot
//!
//! Options: `pub const dataflare_options: df.Options = .{ .log = true };` in the
//! root file imports `df.log` (the manifest must grant capability "log"), and
//! `pub const panic = df.panic;` sends panic messages to the host log first.
//!
//! Rules worth knowing:
//!
//! - Memory. `df.arena()` is reset when the next call into the plugin starts: no
//!   free needed. State that lives across batches uses `df.state_allocator`
//!   (a general-purpose allocator). `error.OutOfMemory` becomes status 3.
//! - Input. Every input batch is checked completely before `process` runs; a
//!   malformed one gets status 2 without calling you. Input bytes live in a
//!   buffer the host overwrites before the next call: copy what you keep.
//! - Output. Output columns start as the input's columns. `emitInput` copies a
//!   record with its column values; `emit(source, ...)` makes a new record that
//!   carries the headers and column values of input record `source` (or none,
//!   with `null`). `dropColumns`/`addColumn` before the first emit change the
//!   columns; an added column needs `setInt`/`setFloat` for every record
//!   (status 16 otherwise: the SDK never invents a 0). The output keeps the
//!   input's batch metadata and is laid out exactly as the kernel lays batches out.
//! - Errors. `df.recordError` sends one input record to the dead-letter
//!   destination. Returning an error fails the whole call: `error.BadConfig`
//!   (from `df.configError`) gives 4, `error.BadInput` 2, `error.OutOfMemory` 3,
//!   `df.fail(status, message)` that status, any other error 17 with its name.

const std = @import("std");
const root = @import("root");

// ---- Status codes and options --------------------------------------------------------

pub const status = struct {
    pub const ok: u32 = 0;
    pub const bad_input: u32 = 2;
    pub const no_memory: u32 = 3;
    pub const bad_config: u32 = 4;
    /// The plugin used the SDK wrongly; the message says how.
    pub const misuse: u32 = 16;
    /// The first status free for plugin-defined fatal errors.
    pub const plugin_failed: u32 = 17;
};

/// The errors SDK functions return; callbacks may return these or their own.
pub const Error = error{ OutOfMemory, BadInput, BadConfig, Misuse, PluginFailed };

pub const ColumnType = enum(u32) { i64 = 1, f64 = 2 };

/// `df.log` levels, as the host maps them to its log.
pub const LogLevel = enum(i32) { debug = 0, info = 1, notice = 2, warn = 3, err = 4 };

pub const Options = struct {
    /// Import `df.log`; the manifest must grant capability "log".
    log: bool = false,
};

const options: Options = if (@hasDecl(root, "dataflare_options")) root.dataflare_options else .{};

// ---- Memory ------------------------------------------------------------------------------

/// General-purpose memory for state that lives across batches.
pub const state_allocator: std.mem.Allocator = std.heap.wasm_allocator;

var call_arena = std.heap.ArenaAllocator.init(std.heap.wasm_allocator);

/// Memory that lives until the next call into the plugin starts.
pub fn arena() std.mem.Allocator {
    return call_arena.allocator();
}

// ---- Little-endian reads (wasm32 is little-endian; no alignment is assumed) -------------

fn readU32(b: []const u8, at: usize) u32 {
    return std.mem.readInt(u32, b[at..][0..4], .little);
}

fn readU64(b: []const u8, at: usize) u64 {
    return std.mem.readInt(u64, b[at..][0..8], .little);
}

// ---- KV blocks: record headers, batch metadata, parameters ------------------------------

/// A KV block (`u32 n`, then n times `u32 len, key, u32 len, value`).
pub const Kv = struct {
    block: []const u8 = &.{},

    pub const Entry = struct { key: []const u8, value: []const u8 };

    pub const Iterator = struct {
        block: []const u8,
        left: u32,
        pos: usize = 4,

        /// The next entry, or null at the end (or at a malformed entry).
        pub fn next(it: *Iterator) ?Entry {
            if (it.left == 0) return null;
            it.left -= 1;
            const key = it.part() orelse return null;
            const value = it.part() orelse return null;
            return .{ .key = key, .value = value };
        }

        fn part(it: *Iterator) ?[]const u8 {
            if (it.block.len - it.pos < 4) return it.stop();
            const n = readU32(it.block, it.pos);
            it.pos += 4;
            if (n > it.block.len - it.pos) return it.stop();
            defer it.pos += n;
            return it.block[it.pos..][0..n];
        }

        fn stop(it: *Iterator) ?[]const u8 {
            it.left = 0;
            return null;
        }
    };

    pub fn iterator(kv: Kv) Iterator {
        if (kv.block.len < 4) return .{ .block = kv.block, .left = 0 };
        return .{ .block = kv.block, .left = readU32(kv.block, 0) };
    }

    /// The value of `name`, or null.
    pub fn get(kv: Kv, name: []const u8) ?[]const u8 {
        var it = kv.iterator();
        while (it.next()) |e| if (std.mem.eql(u8, e.key, name)) return e.value;
        return null;
    }

    /// A block as the kernel reads it: entries inside the block and filling it,
    /// UTF-8 keys and values, no key twice (a hash set past 8 entries keeps that linear).
    fn valid(block: []const u8) error{OutOfMemory}!bool {
        if (block.len == 0) return true;
        if (block.len < 4 or readU32(block, 0) > (block.len - 4) / 8) return false;
        var it = Kv.iterator(.{ .block = block });
        const total = it.left;
        var seen: std.StringHashMapUnmanaged(void) = .empty;
        if (total > 8) try seen.ensureTotalCapacity(arena(), total);
        for (0..total) |k| {
            const e = it.next() orelse return false;
            if (!std.unicode.utf8ValidateSlice(e.key) or !std.unicode.utf8ValidateSlice(e.value)) return false;
            if (total > 8) {
                if (seen.getOrPutAssumeCapacity(e.key).found_existing) return false;
                continue;
            }
            var earlier = Kv.iterator(.{ .block = block });
            for (0..k) |_| if (std.mem.eql(u8, earlier.next().?.key, e.key)) return false;
        }
        return it.pos == block.len;
    }
};

/// The plugin's parameters; the SDK keeps its own copy, so the slices `get`
/// returns stay valid for the life of the plugin.
pub const Params = struct {
    kv: Kv,

    pub fn get(p: Params, name: []const u8) ?[]const u8 {
        return p.kv.get(name);
    }

    pub fn getOr(p: Params, name: []const u8, default: []const u8) []const u8 {
        return p.kv.get(name) orelse default;
    }

    /// `error.BadConfig`, naming the parameter, when one is not in `known`.
    pub fn allow(p: Params, known: []const []const u8) Error!void {
        var it = p.kv.iterator();
        outer: while (it.next()) |e| {
            for (known) |k| if (std.mem.eql(u8, k, e.key)) continue :outer;
            var buf: [max_message]u8 = undefined;
            var w = std.Io.Writer.fixed(&buf);
            w.print("unknown parameter '{s}'", .{e.key}) catch {};
            if (known.len == 0) w.writeAll("; this plugin takes no parameters") catch {};
            for (known, 0..) |k, i| w.print("{s}{s}", .{ if (i == 0) "; known parameters: " else ", ", k }) catch {};
            failWith(status.bad_config, "{s}", .{w.buffered()});
            return error.BadConfig;
        }
    }
};

// ---- Input batches ---------------------------------------------------------------------------

/// One record, viewed in place.
pub const Record = struct {
    index: u32,
    /// Milliseconds since the Unix epoch.
    timestamp: i64,
    /// Empty means "no key".
    key: []const u8,
    value: []const u8,
    headers: Kv,
};

/// A typed column of a batch.
pub const Column = struct {
    type: ColumnType,
    name: []const u8,
    data: []const u8,

    /// Value `i` of an i64 column (0 for an f64 column or an index out of range).
    pub fn int(c: Column, i: u32) i64 {
        if (c.type != .i64 or i >= c.data.len / 8) return 0;
        return @bitCast(readU64(c.data, 8 * @as(usize, i)));
    }

    /// Value `i` as f64 (an i64 value is converted; 0 for an index out of range).
    pub fn float(c: Column, i: u32) f64 {
        if (i >= c.data.len / 8) return 0;
        const bits = readU64(c.data, 8 * @as(usize, i));
        return if (c.type == .f64) @bitCast(bits) else @floatFromInt(@as(i64, @bitCast(bits)));
    }
};

/// A checked record batch (docs/record-batch.md).
pub const Batch = struct {
    bytes: []const u8,
    count: u32,
    ncols: u32,
    ts_off: u32,
    key_offs_off: u32,
    value_offs_off: u32,
    hdr_offs_off: u32,
    cols_off: u32,
    key_data_off: u32,
    value_data_off: u32,
    hdr_data_off: u32,
    meta_off: u32,
    meta_len: u32,

    /// Check `bytes` and view them as a batch; on `error.BadInput`, `why.*` says what is wrong.
    pub fn open(bytes: []const u8, why: *[]const u8) error{ BadInput, OutOfMemory }!Batch {
        return check(bytes) catch |problem| {
            if (problem == error.OutOfMemory) return error.OutOfMemory;
            why.* = @errorName(problem);
            return error.BadInput;
        };
    }

    pub fn len(b: *const Batch) u32 {
        return b.count;
    }

    fn slice(b: *const Batch, offs: u32, data: u32, i: u32) []const u8 {
        if (i >= b.count) return &.{};
        const lo = readU32(b.bytes, offs + 4 * @as(usize, i));
        const hi = readU32(b.bytes, offs + 4 * @as(usize, i) + 4);
        return b.bytes[data + @as(usize, lo) .. data + @as(usize, hi)];
    }

    pub fn timestamp(b: *const Batch, i: u32) i64 {
        return if (i < b.count) @bitCast(readU64(b.bytes, b.ts_off + 8 * @as(usize, i))) else 0;
    }
    pub fn key(b: *const Batch, i: u32) []const u8 {
        return b.slice(b.key_offs_off, b.key_data_off, i);
    }
    pub fn value(b: *const Batch, i: u32) []const u8 {
        return b.slice(b.value_offs_off, b.value_data_off, i);
    }
    pub fn headers(b: *const Batch, i: u32) Kv {
        return .{ .block = b.slice(b.hdr_offs_off, b.hdr_data_off, i) };
    }
    /// Header `name` of record `i`, or null.
    pub fn header(b: *const Batch, i: u32, name: []const u8) ?[]const u8 {
        return b.headers(i).get(name);
    }
    pub fn metadata(b: *const Batch) Kv {
        return .{ .block = b.bytes[b.meta_off..][0..b.meta_len] };
    }

    /// Record `i` (an empty record for an index out of range).
    pub fn get(b: *const Batch, i: u32) Record {
        return .{ .index = i, .timestamp = b.timestamp(i), .key = b.key(i), .value = b.value(i), .headers = b.headers(i) };
    }

    pub const Iterator = struct {
        batch: *const Batch,
        next_index: u32 = 0,

        pub fn next(it: *Iterator) ?Record {
            if (it.next_index >= it.batch.count) return null;
            defer it.next_index += 1;
            return it.batch.get(it.next_index);
        }
    };

    pub fn records(b: *const Batch) Iterator {
        return .{ .batch = b };
    }

    /// Typed column `name`, or null. Look it up once per batch.
    pub fn column(b: *const Batch, name: []const u8) ?Column {
        for (0..b.ncols) |c| {
            const e = b.bytes[b.cols_off + 32 * c ..][0..32];
            if (!std.mem.eql(u8, e[9..][0..e[8]], name)) continue;
            const data = b.bytes[readU32(e, 4)..][0 .. 8 * @as(usize, b.count)];
            return .{ .type = @enumFromInt(readU32(e, 0)), .name = e[9..][0..e[8]], .data = data };
        }
        return null;
    }

    fn section(start: u64, size: u64, total: usize) bool {
        return start % 8 == 0 and start >= 64 and start + size <= total;
    }

    fn offsets(d: []const u8, at: u32, count: u32, data_at: u32) bool {
        var prev = readU32(d, at);
        if (prev != 0) return false;
        for (1..@as(usize, count) + 1) |i| {
            const cur = readU32(d, at + 4 * i);
            if (cur < prev) return false;
            prev = cur;
        }
        return @as(u64, data_at) + prev <= d.len;
    }

    fn check(d: []const u8) error{ BadMagic, Truncated, NewerVersion, VersionZero, HeaderSize, TotalLen, Reserved, Timestamps, KeyOffsets, ValueOffsets, HeaderOffsets, ColumnDirectory, Metadata, Keys, Values, Headers, ColumnType, ColumnValues, ColumnName, DuplicateColumn, MetadataBlock, HeaderBlock, OutOfMemory }!Batch {
        if (d.len >= 4 and !std.mem.eql(u8, d[0..4], "DFRB")) return error.BadMagic;
        if (d.len < 8) return error.Truncated;
        const version = std.mem.readInt(u16, d[4..6], .little);
        if (version > 1) return error.NewerVersion;
        if (version < 1) return error.VersionZero;
        if (d.len < 64) return error.Truncated;
        if (std.mem.readInt(u16, d[6..8], .little) != 64) return error.HeaderSize;
        if (readU32(d, 16) != d.len) return error.TotalLen;
        if (readU32(d, 60) != 0) return error.Reserved;
        const b: Batch = .{
            .bytes = d,
            .count = readU32(d, 8),
            .ncols = readU32(d, 12),
            .ts_off = readU32(d, 20),
            .key_offs_off = readU32(d, 24),
            .value_offs_off = readU32(d, 28),
            .hdr_offs_off = readU32(d, 32),
            .cols_off = readU32(d, 36),
            .key_data_off = readU32(d, 40),
            .value_data_off = readU32(d, 44),
            .hdr_data_off = readU32(d, 48),
            .meta_off = readU32(d, 52),
            .meta_len = readU32(d, 56),
        };
        const n: u64 = b.count;
        if (!section(b.ts_off, 8 * n, d.len)) return error.Timestamps;
        if (!section(b.key_offs_off, 4 * (n + 1), d.len)) return error.KeyOffsets;
        if (!section(b.value_offs_off, 4 * (n + 1), d.len)) return error.ValueOffsets;
        if (!section(b.hdr_offs_off, 4 * (n + 1), d.len)) return error.HeaderOffsets;
        if (!section(b.cols_off, 32 * @as(u64, b.ncols), d.len)) return error.ColumnDirectory;
        if (!section(b.meta_off, b.meta_len, d.len)) return error.Metadata;
        if (!section(b.key_data_off, 0, d.len) or !offsets(d, b.key_offs_off, b.count, b.key_data_off)) return error.Keys;
        if (!section(b.value_data_off, 0, d.len) or !offsets(d, b.value_offs_off, b.count, b.value_data_off)) return error.Values;
        if (!section(b.hdr_data_off, 0, d.len) or !offsets(d, b.hdr_offs_off, b.count, b.hdr_data_off)) return error.Headers;
        for (0..b.ncols) |c| {
            const e = d[b.cols_off + 32 * c ..][0..32];
            const kind = readU32(e, 0);
            if (kind != 1 and kind != 2) return error.ColumnType;
            if (!section(readU32(e, 4), 8 * n, d.len)) return error.ColumnValues;
            const name = e[9..][0..@min(e[8], 23)];
            if (e[8] < 1 or e[8] > 23 or !std.unicode.utf8ValidateSlice(name) or std.mem.findScalar(u8, name, 0) != null)
                return error.ColumnName;
            for (0..c) |p| {
                const o = d[b.cols_off + 32 * p ..][0..32];
                if (std.mem.eql(u8, o[9..][0..o[8]], name)) return error.DuplicateColumn;
            }
        }
        if (!try Kv.valid(d[b.meta_off..][0..b.meta_len])) return error.MetadataBlock;
        for (0..b.count) |i| {
            const lo = readU32(d, b.hdr_offs_off + 4 * i);
            const hi = readU32(d, b.hdr_offs_off + 4 * i + 4);
            if (!try Kv.valid(d[b.hdr_data_off + @as(usize, lo) .. b.hdr_data_off + @as(usize, hi)])) return error.HeaderBlock;
        }
        return b;
    }
};

/// The message for a `Batch.open` problem: the same words as dataflare.h uses.
fn describe(problem: []const u8) []const u8 {
    const table = [_]struct { []const u8, []const u8 }{
        .{ "BadMagic", "bad magic: these bytes are not a record batch (expected \"DFRB\")" },
        .{ "Truncated", "truncated: shorter than the 64-byte header" },
        .{ "NewerVersion", "layout version is newer than this SDK supports (1): rebuild the plugin with a newer SDK" },
        .{ "VersionZero", "version is 0; layout versions start at 1" },
        .{ "HeaderSize", "header_size is not 64" },
        .{ "TotalLen", "total_len is not the length of the batch (truncated, or extra bytes)" },
        .{ "Reserved", "reserved is not 0" },
        .{ "Timestamps", "ts_off: the timestamps lie outside the batch or are misaligned" },
        .{ "KeyOffsets", "key_offs_off: the key offsets lie outside the batch or are misaligned" },
        .{ "ValueOffsets", "value_offs_off: the value offsets lie outside the batch or are misaligned" },
        .{ "HeaderOffsets", "hdr_offs_off: the header offsets lie outside the batch or are misaligned" },
        .{ "ColumnDirectory", "cols_off: the column directory lies outside the batch or is misaligned" },
        .{ "Metadata", "meta_off: the metadata lies outside the batch or is misaligned" },
        .{ "Keys", "keys: an offset decreases, does not start at 0, or points past the end of the batch" },
        .{ "Values", "values: an offset decreases, does not start at 0, or points past the end of the batch" },
        .{ "Headers", "headers: an offset decreases, does not start at 0, or points past the end of the batch" },
        .{ "ColumnType", "a column has an unknown type" },
        .{ "ColumnValues", "a column's values lie outside the batch or are misaligned" },
        .{ "ColumnName", "a column name is not 1 to 23 bytes of UTF-8 without NUL" },
        .{ "DuplicateColumn", "two columns have the same name" },
        .{ "MetadataBlock", "the metadata block is malformed" },
        .{ "HeaderBlock", "a record's header block is malformed" },
    };
    for (table) |row| if (std.mem.eql(u8, row[0], problem)) return row[1];
    return problem;
}

// ---- Errors -------------------------------------------------------------------------------------

const max_message = 240;

var fatal: struct { status: u32 = 0, buf: [max_message]u8 = undefined, len: usize = 0 } = .{};
var errors: std.ArrayList(u8) = .empty;
var error_count: u32 = 0;
var error_limit: u32 = 0;

/// Record the call's fatal status and message; only the first failure is kept.
fn failWith(code: u32, comptime fmt: []const u8, args: anytype) void {
    if (fatal.status != 0) return;
    var w = std.Io.Writer.fixed(&fatal.buf);
    w.print(fmt, args) catch {}; // a long message is cut at max_message bytes
    fatal.status = code;
    fatal.len = w.end;
}

/// Fail the whole call with `code` (17 and up) and a message: `return df.fail(17, "lost");`
pub fn fail(code: u32, message: []const u8) Error {
    failWith(if (code < 2) status.plugin_failed else code, "{s}", .{message});
    return error.PluginFailed;
}

/// From `init`: `return df.configError("mask must be one character");`
pub fn configError(message: []const u8) Error {
    failWith(status.bad_config, "{s}", .{message});
    return error.BadConfig;
}

/// Send input record `index` to the dead-letter destination with `code` and a message.
pub fn recordError(index: u32, code: u32, message: []const u8) Error!void {
    if (index >= error_limit) {
        failWith(status.misuse, "df.recordError: index {d} is not an input record of this batch (recordError is for process)", .{index});
        return error.Misuse;
    }
    const text = if (std.unicode.utf8ValidateSlice(message)) message else "(the plugin's message was not valid UTF-8)";
    const a = arena();
    if (errors.items.len == 0) try errors.appendSlice(a, &.{ 0, 0, 0, 0 });
    var head: [12]u8 = undefined;
    std.mem.writeInt(u32, head[0..4], index, .little);
    std.mem.writeInt(u32, head[4..8], code, .little);
    std.mem.writeInt(u32, head[8..12], @intCast(text.len), .little);
    try errors.ensureUnusedCapacity(a, 12 + text.len);
    errors.appendSliceAssumeCapacity(&head);
    errors.appendSliceAssumeCapacity(text);
    error_count += 1;
}

// ---- Output ----------------------------------------------------------------------------------------

const OutColumn = struct {
    type: ColumnType,
    /// The input column its values are carried from, or null.
    source: ?u32,
    filled: u32 = 0,
    offset: usize = 0,
    name: []const u8,
    values: std.ArrayList(u64) = .empty,
};

/// A new record for `Output.emit`.
pub const NewRecord = struct {
    timestamp: i64 = 0,
    key: []const u8 = "",
    value: []const u8 = "",
};

/// The output batch being built during one call.
pub const Output = struct {
    input: ?*const Batch,
    count: u32 = 0,
    ts: std.ArrayList(i64) = .empty,
    key_offs: std.ArrayList(u32) = .empty,
    key_data: std.ArrayList(u8) = .empty,
    value_offs: std.ArrayList(u32) = .empty,
    value_data: std.ArrayList(u8) = .empty,
    hdr_offs: std.ArrayList(u32) = .empty,
    hdr_data: std.ArrayList(u8) = .empty,
    columns: std.ArrayList(OutColumn) = .empty,
    meta: []const u8 = &.{},

    fn init(input: ?*const Batch) Error!Output {
        const a = arena();
        var out: Output = .{ .input = input };
        const n: usize = if (input) |in| in.count else 0;
        if (input) |in| { // room for one output record per input record; data regions grow as needed
            try out.ts.ensureTotalCapacity(a, n);
            out.meta = in.metadata().block;
            for (0..in.ncols) |c| {
                const e = in.bytes[in.cols_off + 32 * c ..][0..32];
                var col: OutColumn = .{ .type = @enumFromInt(readU32(e, 0)), .source = @intCast(c), .name = e[9..][0..e[8]] };
                try col.values.ensureTotalCapacity(a, n);
                try out.columns.append(a, col);
            }
        }
        for ([_]*std.ArrayList(u32){ &out.key_offs, &out.value_offs, &out.hdr_offs }) |offs| {
            try offs.ensureTotalCapacity(a, n + 1);
            offs.appendAssumeCapacity(0);
        }
        return out;
    }

    fn complete(out: *const Output) Error!void {
        for (out.columns.items) |*col| {
            if (col.filled == out.count) continue;
            failWith(status.misuse, "output column '{s}' has no value for output record {d}: call setInt/setFloat after each emit (the SDK never invents a 0)", .{ col.name, out.count - 1 });
            return error.Misuse;
        }
    }

    /// Append a new record carrying the headers and column values of input record
    /// `source` (none with `null`). The bytes are copied.
    pub fn emit(out: *Output, source: ?u32, r: NewRecord) Error!void {
        if (source) |s| {
            if (out.input == null or s >= out.input.?.count) {
                failWith(status.misuse, "df.Output.emit: source {d} is not an input record index; use null for a record of your own", .{s});
                return error.Misuse;
            }
        }
        try out.complete();
        const a = arena();
        const hdrs: []const u8 = if (source) |s| out.input.?.headers(s).block else &.{};
        try out.ts.append(a, r.timestamp);
        try out.key_data.appendSlice(a, r.key);
        try out.key_offs.append(a, @intCast(out.key_data.items.len));
        try out.value_data.appendSlice(a, r.value);
        try out.value_offs.append(a, @intCast(out.value_data.items.len));
        try out.hdr_data.appendSlice(a, hdrs);
        try out.hdr_offs.append(a, @intCast(out.hdr_data.items.len));
        for (out.columns.items) |*col| {
            var v: u64 = 0;
            if (source != null and col.source != null) {
                const in = out.input.?;
                const e = in.bytes[in.cols_off + 32 * @as(usize, col.source.?) ..][0..32];
                v = readU64(in.bytes, readU32(e, 4) + 8 * @as(usize, source.?));
                col.filled += 1;
            }
            try col.values.append(a, v);
        }
        out.count += 1;
    }

    /// Copy input record `i` (time, key, value, headers and column values).
    pub fn emitInput(out: *Output, i: u32) Error!void {
        const in = out.input orelse return misuse("df.Output.emitInput: there is no input in flush");
        if (i >= in.count) {
            failWith(status.misuse, "df.Output.emitInput: {d} is not an input record index", .{i});
            return error.Misuse;
        }
        const r = in.get(i);
        return out.emit(i, .{ .timestamp = r.timestamp, .key = r.key, .value = r.value });
    }

    /// Before the first emit: no output columns at all.
    pub fn dropColumns(out: *Output) Error!void {
        if (out.count != 0) return misuse("df.Output.dropColumns: call it before the first emit");
        out.columns.clearRetainingCapacity();
    }

    /// Before the first emit: add column `name` (1 to 23 bytes of UTF-8); returns its handle.
    pub fn addColumn(out: *Output, name: []const u8, kind: ColumnType) Error!u32 {
        if (out.count != 0) return misuse("df.Output.addColumn: call it before the first emit");
        if (name.len < 1 or name.len > 23 or !std.unicode.utf8ValidateSlice(name) or std.mem.findScalar(u8, name, 0) != null)
            return misuse("df.Output.addColumn: a column name is 1 to 23 bytes of UTF-8 without NUL");
        if (out.column(name) != null) {
            failWith(status.misuse, "df.Output.addColumn: the output already has a column '{s}'", .{name});
            return error.Misuse;
        }
        try out.columns.append(arena(), .{ .type = kind, .source = null, .name = try arena().dupe(u8, name) });
        return @intCast(out.columns.items.len - 1);
    }

    /// The handle of output column `name`, or null.
    pub fn column(out: *const Output, name: []const u8) ?u32 {
        for (out.columns.items, 0..) |col, c| if (std.mem.eql(u8, col.name, name)) return @intCast(c);
        return null;
    }

    fn settable(out: *Output, handle: u32, kind: ColumnType) Error!*OutColumn {
        if (out.count == 0) return misuse("df.Output.setInt/setFloat: emit a record first");
        if (handle >= out.columns.items.len) return misuse("df.Output.setInt/setFloat: no output column with that handle");
        const col = &out.columns.items[handle];
        if (col.type != kind) {
            failWith(status.misuse, "output column '{s}' is {s}: use {s}", .{ col.name, @tagName(col.type), if (kind == .i64) "setFloat" else "setInt" });
            return error.Misuse;
        }
        if (col.filled + 1 == out.count) col.filled += 1;
        return col;
    }

    /// Set an i64 column value of the record emitted last.
    pub fn setInt(out: *Output, handle: u32, v: i64) Error!void {
        const col = try out.settable(handle, .i64);
        col.values.items[out.count - 1] = @bitCast(v);
    }

    /// Set an f64 column value of the record emitted last.
    pub fn setFloat(out: *Output, handle: u32, v: f64) Error!void {
        const col = try out.settable(handle, .f64);
        col.values.items[out.count - 1] = @bitCast(v);
    }

    /// Lay the output out exactly as the kernel's writer does: sections in header
    /// order (column values after the directory), each 8-byte aligned, zero padding.
    fn finish(out: *Output) Error![]const u8 {
        if (out.count == 0) return &.{};
        try out.complete();
        const n: u64 = out.count;
        var pos: u64 = 64;
        const sizes = [_]u64{ 8 * n, 4 * (n + 1), 4 * (n + 1), 4 * (n + 1), 32 * @as(u64, out.columns.items.len) };
        var at: [9]u64 = undefined;
        for (sizes, 0..) |size, k| at[k] = place(&pos, size);
        for (out.columns.items) |*col| col.offset = @intCast(@min(place(&pos, 8 * n), std.math.maxInt(u32)));
        for ([_]usize{ out.key_data.items.len, out.value_data.items.len, out.hdr_data.items.len, out.meta.len }, 5..) |size, k| at[k] = place(&pos, size);
        if (pos > std.math.maxInt(u32) - 8) return error.OutOfMemory; // cannot exist in a 32-bit memory
        const ts: usize = @intCast(at[0]);
        const ko: usize = @intCast(at[1]);
        const vo: usize = @intCast(at[2]);
        const ho: usize = @intCast(at[3]);
        const co: usize = @intCast(at[4]);
        const kd: usize = @intCast(at[5]);
        const vd: usize = @intCast(at[6]);
        const hd: usize = @intCast(at[7]);
        const md: usize = @intCast(at[8]);
        const b = try arena().alloc(u8, @intCast(pos));
        @memset(b, 0);
        @memcpy(b[0..4], "DFRB");
        std.mem.writeInt(u16, b[4..6], 1, .little);
        std.mem.writeInt(u16, b[6..8], 64, .little);
        const head = [_]u64{ n, out.columns.items.len, pos, ts, ko, vo, ho, co, kd, vd, hd, md, out.meta.len };
        for (head, 0..) |v, k| std.mem.writeInt(u32, b[8 + 4 * k ..][0..4], @intCast(v), .little);
        @memcpy(b[ts..][0 .. 8 * out.count], std.mem.sliceAsBytes(out.ts.items));
        @memcpy(b[ko..][0 .. 4 * (out.count + 1)], std.mem.sliceAsBytes(out.key_offs.items));
        @memcpy(b[vo..][0 .. 4 * (out.count + 1)], std.mem.sliceAsBytes(out.value_offs.items));
        @memcpy(b[ho..][0 .. 4 * (out.count + 1)], std.mem.sliceAsBytes(out.hdr_offs.items));
        for (out.columns.items, 0..) |col, c| {
            const e = b[co + 32 * c ..][0..32];
            std.mem.writeInt(u32, e[0..4], @intFromEnum(col.type), .little);
            std.mem.writeInt(u32, e[4..8], @intCast(col.offset), .little);
            e[8] = @intCast(col.name.len);
            @memcpy(e[9..][0..col.name.len], col.name);
            @memcpy(b[col.offset..][0 .. 8 * out.count], std.mem.sliceAsBytes(col.values.items));
        }
        @memcpy(b[kd..][0..out.key_data.items.len], out.key_data.items);
        @memcpy(b[vd..][0..out.value_data.items.len], out.value_data.items);
        @memcpy(b[hd..][0..out.hdr_data.items.len], out.hdr_data.items);
        @memcpy(b[md..][0..out.meta.len], out.meta);
        return b;
    }
};

fn place(pos: *u64, size: u64) u64 {
    defer pos.* = std.mem.alignForward(u64, pos.* + size, 8);
    return pos.*;
}

fn misuse(message: []const u8) Error {
    failWith(status.misuse, "{s}", .{message});
    return error.Misuse;
}

// ---- State (aggregates) ---------------------------------------------------------------------------

/// A growable byte buffer in the per-call arena: `snapshot` appends the state to it.
pub const Buffer = struct {
    bytes: std.ArrayList(u8) = .empty,

    pub fn append(buf: *Buffer, data: []const u8) Error!void {
        try buf.bytes.appendSlice(arena(), data);
    }
    /// Append an integer, little-endian.
    pub fn writeInt(buf: *Buffer, comptime T: type, v: T) Error!void {
        var tmp: [@sizeOf(T)]u8 = undefined;
        std.mem.writeInt(T, &tmp, v, .little);
        try buf.append(&tmp);
    }
    /// A u32 length, then the bytes: read it back with `Cursor.readBytes`.
    pub fn writeBytes(buf: *Buffer, data: []const u8) Error!void {
        try buf.writeInt(u32, @intCast(data.len));
        try buf.append(data);
    }
};

/// A bounds-checked reader over bytes, for `restore`; a short read is `error.BadInput`.
pub const Cursor = struct {
    rest: []const u8,

    pub fn readInt(c: *Cursor, comptime T: type) error{BadInput}!T {
        if (c.rest.len < @sizeOf(T)) return error.BadInput;
        defer c.rest = c.rest[@sizeOf(T)..];
        return std.mem.readInt(T, c.rest[0..@sizeOf(T)], .little);
    }
    pub fn readBytes(c: *Cursor) error{BadInput}![]const u8 {
        const n = try c.readInt(u32);
        if (c.rest.len < n) return error.BadInput;
        defer c.rest = c.rest[n..];
        return c.rest[0..n];
    }
    pub fn done(c: *const Cursor) bool {
        return c.rest.len == 0;
    }
};

// ---- Logging and panics ----------------------------------------------------------------------------

const host_log = @extern(*const fn (i32, [*]const u8, usize) callconv(.c) void, .{ .name = "log", .library_name = "df" });

/// A line in the host's log; a no-op unless `dataflare_options.log` is set.
pub fn log(level: LogLevel, message: []const u8) void {
    if (options.log) host_log(@intFromEnum(level), message.ptr, message.len);
}

/// A formatted line in the host's log (truncated at 256 bytes).
pub fn logf(level: LogLevel, comptime fmt: []const u8, args: anytype) void {
    if (!options.log) return;
    var buf: [256]u8 = undefined;
    var w = std.Io.Writer.fixed(&buf);
    w.print(fmt, args) catch {};
    log(level, w.buffered());
}

/// `pub const panic = df.panic;` in the root file logs the panic message, then traps.
pub const panic = std.debug.FullPanic(struct {
    fn handler(message: []const u8, _: ?usize) noreturn {
        log(.err, message);
        @trap();
    }
}.handler);

// ---- The ABI exports -----------------------------------------------------------------------------------

var result: [5]u32 = .{ 0, 0, 0, 0, 0 };
var fatal_block: [16 + max_message]u8 = undefined;
var reserve_buf: []align(8) u8 = &.{};
var params_copy: []u8 = &.{};

fn begin() void {
    _ = call_arena.reset(.retain_capacity);
    errors = .empty;
    error_count = 0;
    error_limit = 0;
    fatal = .{};
}

fn memoryView(ptr: u32, len: u32) ?[]const u8 {
    if (@as(u64, ptr) + len > @as(u64, @wasmMemorySize(0)) * 65536) return null;
    if (len == 0) return &.{};
    if (ptr == 0) return null;
    return @as([*]const u8, @ptrFromInt(ptr))[0..len];
}

/// Fill the result block from a callback's outcome. A failed call carries one
/// message, at index 0.
fn reply(outcome: anyerror!void, output: []const u8, who: []const u8) u32 {
    if (outcome) |_| {} else |err| switch (err) {
        error.OutOfMemory => {
            fatal = .{};
            failWith(status.no_memory, "out of memory: the plugin reached its memory limit (limits.memory_mb)", .{});
        },
        error.BadInput => failWith(status.bad_input, "{s}: bad input", .{who}),
        error.BadConfig => failWith(status.bad_config, "{s}: bad configuration", .{who}),
        error.Misuse => failWith(status.misuse, "{s}: the SDK was misused", .{who}),
        else => failWith(status.plugin_failed, "{s} failed: error.{s}", .{ who, @errorName(err) }),
    }
    if (fatal.status != 0) {
        std.mem.writeInt(u32, fatal_block[0..4], 1, .little);
        std.mem.writeInt(u32, fatal_block[4..8], 0, .little);
        std.mem.writeInt(u32, fatal_block[8..12], fatal.status, .little);
        std.mem.writeInt(u32, fatal_block[12..16], @intCast(fatal.len), .little);
        @memcpy(fatal_block[16..][0..fatal.len], fatal.buf[0..fatal.len]);
        result = .{ fatal.status, 0, 0, @intFromPtr(&fatal_block), @intCast(16 + fatal.len) };
    } else {
        if (error_count != 0) std.mem.writeInt(u32, errors.items[0..4], error_count, .little);
        const errs: []const u8 = errors.items;
        result = .{ 0, if (output.len != 0) @intFromPtr(output.ptr) else 0, @intCast(output.len), if (errs.len != 0) @intFromPtr(errs.ptr) else 0, @intCast(errs.len) };
    }
    return @intFromPtr(&result);
}

/// Export the ABI around the plugin's functions: `comptime { df.plugin(@This()); }`.
pub fn plugin(comptime P: type) void {
    if (!@hasDecl(P, "init") or !@hasDecl(P, "process"))
        @compileError("a DataFlare plugin declares `pub fn init(params: df.Params) !void` and `pub fn process(in: *const df.Batch, out: *df.Output) !void`");
    if (@hasDecl(P, "snapshot") != @hasDecl(P, "restore"))
        @compileError("declare both `pub fn snapshot(state: *df.Buffer) !void` and `pub fn restore(state: []const u8) !void`, or neither");
    const glue = struct {
        fn abi() callconv(.c) void {}

        fn reserve(size: u32) callconv(.c) u32 {
            if (reserve_buf.len != 0 and size <= reserve_buf.len) return @intFromPtr(reserve_buf.ptr);
            const cap = @max(size, reserve_buf.len *| 2, 65536);
            const fresh = std.heap.wasm_allocator.alignedAlloc(u8, .@"8", cap) catch
                std.heap.wasm_allocator.alignedAlloc(u8, .@"8", @max(size, 1)) catch return 0;
            std.heap.wasm_allocator.free(reserve_buf);
            reserve_buf = fresh;
            return @intFromPtr(fresh.ptr);
        }

        fn init(ptr: u32, len: u32) callconv(.c) u32 {
            begin();
            const block = memoryView(ptr, len) orelse
                return reply(fail(status.bad_input, "parameters: the block lies outside memory"), &.{}, "");
            const valid = Kv.valid(block) catch |err| return reply(err, &.{}, "");
            if (!valid) return reply(fail(status.bad_input, "parameters: the KV block is malformed"), &.{}, "");
            // The host reuses its buffer for batches: keep a copy.
            const copy = state_allocator.dupe(u8, block) catch return reply(error.OutOfMemory, &.{}, "");
            state_allocator.free(params_copy);
            params_copy = copy;
            return reply(P.init(.{ .kv = .{ .block = params_copy } }), &.{}, "init");
        }

        fn process(ptr: u32, len: u32) callconv(.c) u32 {
            begin();
            var why: []const u8 = "the batch lies outside memory";
            const bytes = memoryView(ptr, len);
            const in = if (bytes) |b| Batch.open(b, &why) catch |err| switch (err) {
                error.OutOfMemory => return reply(err, &.{}, "process"),
                error.BadInput => null,
            } else null;
            if (in == null) {
                failWith(status.bad_input, "input batch: {s}", .{describe(why)});
                return reply({}, &.{}, "");
            }
            error_limit = in.?.count;
            var out = Output.init(&in.?) catch |err| return reply(err, &.{}, "process");
            P.process(&in.?, &out) catch |err| return reply(err, &.{}, "process");
            return reply({}, out.finish() catch |err| return reply(err, &.{}, "process"), "process");
        }

        fn flush() callconv(.c) u32 {
            begin();
            var out = Output.init(null) catch |err| return reply(err, &.{}, "flush");
            P.flush(&out) catch |err| return reply(err, &.{}, "flush");
            return reply({}, out.finish() catch |err| return reply(err, &.{}, "flush"), "flush");
        }

        fn snapshot() callconv(.c) u32 {
            begin();
            var state: Buffer = .{};
            P.snapshot(&state) catch |err| return reply(err, &.{}, "snapshot");
            return reply({}, state.bytes.items, "snapshot");
        }

        fn restore(ptr: u32, len: u32) callconv(.c) u32 {
            begin();
            const bytes = memoryView(ptr, len) orelse
                return reply(fail(status.bad_input, "state: the bytes lie outside memory"), &.{}, "");
            return reply(P.restore(bytes), &.{}, "restore");
        }
    };
    @export(&glue.abi, .{ .name = "df_abi_v1" });
    @export(&glue.reserve, .{ .name = "df_reserve" });
    @export(&glue.init, .{ .name = "df_init" });
    @export(&glue.process, .{ .name = "df_process" });
    if (@hasDecl(P, "flush")) @export(&glue.flush, .{ .name = "df_flush" });
    if (@hasDecl(P, "snapshot")) {
        @export(&glue.snapshot, .{ .name = "df_snapshot" });
        @export(&glue.restore, .{ .name = "df_restore" });
    }
}
