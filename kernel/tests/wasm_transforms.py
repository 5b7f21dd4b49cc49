"""Real transforms in WAT for the WASM host tests and ``benchmarks/wasm.py``.

:data:`FILTER_EVEN` and :data:`UPPERCASE` build their output batch in the record
batch layout, as an SDK-built plugin would: the filter writes a new batch of the
kept records (keys, timestamps, headers, typed columns and metadata copied), the
map copies the batch and changes the value bytes in place. They use the ABI
plumbing of :mod:`wasm_modules`.
"""

from __future__ import annotations

from wasm_modules import module

_EMIT = r"""
  (func $align8 (param $x i32) (result i32)
    (i32.and (i32.add (local.get $x) (i32.const 7)) (i32.const -8)))

  ;; The absolute address of the section whose offset is in header field `field`.
  (func $section (param $b i32) (param $field i32) (result i32)
    (i32.add (local.get $b) (i32.load (i32.add (local.get $b) (local.get $field)))))

  (func $span (param $offs i32) (param $i i32) (result i32)
    (local $o i32)
    (local.set $o (i32.add (local.get $offs) (i32.shl (local.get $i) (i32.const 2))))
    (i32.sub (i32.load offset=4 (local.get $o)) (i32.load (local.get $o))))

  ;; Copy item i (offsets array, data region) to out_data + pos, and store the new
  ;; end as entry j + 1 of out_offs. Returns the new pos.
  (func $copy_item (param $offs i32) (param $data i32) (param $i i32)
                   (param $out_offs i32) (param $out_data i32) (param $j i32) (param $pos i32)
                   (result i32)
    (local $o i32) (local $s i32)
    (local.set $o (i32.add (local.get $offs) (i32.shl (local.get $i) (i32.const 2))))
    (local.set $s (i32.sub (i32.load offset=4 (local.get $o)) (i32.load (local.get $o))))
    (memory.copy (i32.add (local.get $out_data) (local.get $pos))
      (i32.add (local.get $data) (i32.load (local.get $o))) (local.get $s))
    (local.set $pos (i32.add (local.get $pos) (local.get $s)))
    (i32.store offset=4 (i32.add (local.get $out_offs) (i32.shl (local.get $j) (i32.const 2)))
      (local.get $pos))
    (local.get $pos))

  ;; Build a batch of the records whose mask byte is set; 0 when out of memory.
  (func $emit (param $b i32) (param $mask i32) (result i32)
    (local $n i32) (local $m i32) (local $i i32) (local $j i32) (local $c i32) (local $ncols i32)
    (local $klen i32) (local $vlen i32) (local $hlen i32) (local $p i32) (local $out i32)
    (local $total i32) (local $ko i32) (local $vo i32) (local $ho i32) (local $cols i32)
    (local $cd i32) (local $kd i32) (local $vd i32) (local $hd i32) (local $meta i32)
    (local $kpos i32) (local $vpos i32) (local $hpos i32) (local $in_cols i32) (local $in_ts i32)
    (local $iko i32) (local $ivo i32) (local $iho i32) (local $ikd i32) (local $ivd i32)
    (local $ihd i32)
    (local.set $n (i32.load offset=8 (local.get $b)))
    (local.set $ncols (i32.load offset=12 (local.get $b)))
    (local.set $in_ts (call $section (local.get $b) (i32.const 20)))
    (local.set $iko (call $section (local.get $b) (i32.const 24)))
    (local.set $ivo (call $section (local.get $b) (i32.const 28)))
    (local.set $iho (call $section (local.get $b) (i32.const 32)))
    (local.set $in_cols (call $section (local.get $b) (i32.const 36)))
    (local.set $ikd (call $section (local.get $b) (i32.const 40)))
    (local.set $ivd (call $section (local.get $b) (i32.const 44)))
    (local.set $ihd (call $section (local.get $b) (i32.const 48)))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (if (i32.load8_u (i32.add (local.get $mask) (local.get $i)))
        (then
          (local.set $m (i32.add (local.get $m) (i32.const 1)))
          (local.set $klen (i32.add (local.get $klen) (call $span (local.get $iko) (local.get $i))))
          (local.set $vlen (i32.add (local.get $vlen) (call $span (local.get $ivo) (local.get $i))))
          (local.set $hlen (i32.add (local.get $hlen)
            (call $span (local.get $iho) (local.get $i))))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (local.set $p (call $align8 (i32.add (i32.const 64) (i32.shl (local.get $m) (i32.const 3)))))
    (local.set $ko (local.get $p))
    (local.set $p (call $align8 (i32.add (local.get $p)
      (i32.shl (i32.add (local.get $m) (i32.const 1)) (i32.const 2)))))
    (local.set $vo (local.get $p))
    (local.set $p (call $align8 (i32.add (local.get $p)
      (i32.shl (i32.add (local.get $m) (i32.const 1)) (i32.const 2)))))
    (local.set $ho (local.get $p))
    (local.set $p (call $align8 (i32.add (local.get $p)
      (i32.shl (i32.add (local.get $m) (i32.const 1)) (i32.const 2)))))
    (local.set $cols (local.get $p))
    (local.set $p (i32.add (local.get $p) (i32.shl (local.get $ncols) (i32.const 5))))
    (local.set $cd (local.get $p))
    (local.set $p (i32.add (local.get $p)
      (i32.mul (i32.shl (local.get $m) (i32.const 3)) (local.get $ncols))))
    (local.set $kd (local.get $p))
    (local.set $p (call $align8 (i32.add (local.get $p) (local.get $klen))))
    (local.set $vd (local.get $p))
    (local.set $p (call $align8 (i32.add (local.get $p) (local.get $vlen))))
    (local.set $hd (local.get $p))
    (local.set $p (call $align8 (i32.add (local.get $p) (local.get $hlen))))
    (local.set $meta (local.get $p))
    (local.set $total (call $align8 (i32.add (local.get $p) (i32.load offset=56 (local.get $b)))))
    (local.set $out (call $alloc (local.get $total)))
    (if (i32.eqz (local.get $out)) (then (return (i32.const 0))))
    (memory.fill (local.get $out) (i32.const 0) (local.get $total))
    (i32.store (local.get $out) (i32.const 0x42524644))
    (i32.store offset=4 (local.get $out) (i32.const 0x00400001))
    (i32.store offset=8 (local.get $out) (local.get $m))
    (i32.store offset=12 (local.get $out) (local.get $ncols))
    (i32.store offset=16 (local.get $out) (local.get $total))
    (i32.store offset=20 (local.get $out) (i32.const 64))
    (i32.store offset=24 (local.get $out) (local.get $ko))
    (i32.store offset=28 (local.get $out) (local.get $vo))
    (i32.store offset=32 (local.get $out) (local.get $ho))
    (i32.store offset=36 (local.get $out) (local.get $cols))
    (i32.store offset=40 (local.get $out) (local.get $kd))
    (i32.store offset=44 (local.get $out) (local.get $vd))
    (i32.store offset=48 (local.get $out) (local.get $hd))
    (i32.store offset=52 (local.get $out) (local.get $meta))
    (i32.store offset=56 (local.get $out) (i32.load offset=56 (local.get $b)))
    (memory.copy (i32.add (local.get $out) (local.get $cols)) (local.get $in_cols)
      (i32.shl (local.get $ncols) (i32.const 5)))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $c) (local.get $ncols)))
      (i32.store offset=4
        (i32.add (i32.add (local.get $out) (local.get $cols))
                 (i32.shl (local.get $c) (i32.const 5)))
        (i32.add (local.get $cd) (i32.mul (local.get $c) (i32.shl (local.get $m) (i32.const 3)))))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br $next)))
    ;; From here on, the output's sections as absolute addresses.
    (local.set $ko (i32.add (local.get $out) (local.get $ko)))
    (local.set $vo (i32.add (local.get $out) (local.get $vo)))
    (local.set $ho (i32.add (local.get $out) (local.get $ho)))
    (local.set $kd (i32.add (local.get $out) (local.get $kd)))
    (local.set $vd (i32.add (local.get $out) (local.get $vd)))
    (local.set $hd (i32.add (local.get $out) (local.get $hd)))
    (local.set $cd (i32.add (local.get $out) (local.get $cd)))
    (local.set $i (i32.const 0))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (if (i32.load8_u (i32.add (local.get $mask) (local.get $i)))
        (then
          (i64.store offset=64 (i32.add (local.get $out) (i32.shl (local.get $j) (i32.const 3)))
            (i64.load (i32.add (local.get $in_ts) (i32.shl (local.get $i) (i32.const 3)))))
          (local.set $kpos (call $copy_item (local.get $iko) (local.get $ikd) (local.get $i)
            (local.get $ko) (local.get $kd) (local.get $j) (local.get $kpos)))
          (local.set $vpos (call $copy_item (local.get $ivo) (local.get $ivd) (local.get $i)
            (local.get $vo) (local.get $vd) (local.get $j) (local.get $vpos)))
          (local.set $hpos (call $copy_item (local.get $iho) (local.get $ihd) (local.get $i)
            (local.get $ho) (local.get $hd) (local.get $j) (local.get $hpos)))
          (local.set $c (i32.const 0))
          (block $cdone (loop $cnext
            (br_if $cdone (i32.ge_u (local.get $c) (local.get $ncols)))
            (i64.store
              (i32.add
                (i32.add (local.get $cd)
                  (i32.mul (local.get $c) (i32.shl (local.get $m) (i32.const 3))))
                (i32.shl (local.get $j) (i32.const 3)))
              (i64.load
                (i32.add
                  (i32.add (local.get $b)
                    (i32.load offset=4
                      (i32.add (local.get $in_cols) (i32.shl (local.get $c) (i32.const 5)))))
                  (i32.shl (local.get $i) (i32.const 3)))))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (br $cnext)))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (memory.copy (i32.add (local.get $out) (local.get $meta))
      (call $section (local.get $b) (i32.const 52))
      (i32.load offset=56 (local.get $b)))
    (global.set $out_len (local.get $total))
    (local.get $out))
"""

FILTER_EVEN = module(
    _EMIT
    + r"""
  (func (export "df_process") (param $b i32) (param $len i32) (result i32)
    (local $n i32) (local $i i32) (local $mask i32) (local $out i32) (local $vo i32)
    (local $vd i32) (local $start i32)
    (call $begin)
    (local.set $n (i32.load offset=8 (local.get $b)))
    (local.set $vo (call $section (local.get $b) (i32.const 28)))
    (local.set $vd (call $section (local.get $b) (i32.const 44)))
    (local.set $mask (call $alloc (local.get $n)))
    (if (i32.eqz (local.get $mask))
      (then (return (call $result (i32.const 3) (i32.const 0) (i32.const 0)))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $start (i32.load (local.get $vo)))
      ;; keep: the value is not empty and its first byte is even
      (i32.store8 (i32.add (local.get $mask) (local.get $i))
        (i32.and (i32.ne (local.get $start) (i32.load offset=4 (local.get $vo)))
          (i32.eqz (i32.and (i32.load8_u (i32.add (local.get $vd) (local.get $start)))
                            (i32.const 1)))))
      (local.set $vo (i32.add (local.get $vo) (i32.const 4)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (local.set $out (call $emit (local.get $b) (local.get $mask)))
    (if (i32.eqz (local.get $out))
      (then (return (call $result (i32.const 3) (i32.const 0) (i32.const 0)))))
    (call $result (i32.const 0) (local.get $out) (global.get $out_len)))
"""
)
"""A filter: keeps the records whose value's first byte is even (and drops empty values),
copying keys, timestamps, headers, typed columns and metadata."""

UPPERCASE = module(r"""
  (func (export "df_process") (param $b i32) (param $len i32) (result i32)
    (local $out i32) (local $p i32) (local $end i32) (local $c i32)
    (call $begin)
    (local.set $out (call $alloc (local.get $len)))
    (if (i32.eqz (local.get $out))
      (then (return (call $result (i32.const 3) (i32.const 0) (i32.const 0)))))
    (memory.copy (local.get $out) (local.get $b) (local.get $len))
    (local.set $p (i32.add (local.get $out) (i32.load offset=44 (local.get $out))))
    (local.set $end (i32.add (local.get $p)
      (i32.load (i32.add (i32.add (local.get $out) (i32.load offset=28 (local.get $out)))
                         (i32.shl (i32.load offset=8 (local.get $out)) (i32.const 2))))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $c (i32.load8_u (local.get $p)))
      (if (i32.lt_u (i32.sub (local.get $c) (i32.const 97)) (i32.const 26))
        (then (i32.store8 (local.get $p) (i32.sub (local.get $c) (i32.const 32)))))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $next)))
    (call $result (i32.const 0) (local.get $out) (local.get $len)))
""")
"""A map: copies the batch and uppercases the ASCII letters of every value."""
