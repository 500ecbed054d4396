using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace LongLM.Kernels.Ops;

public static partial class Attention
{
    /// <summary>Query rows per tile of <see cref="Tile"/>: one tile copies its keys once for every row and head of its group.</summary>
    public const int TileRows = 64;

    /// <summary>Local keys a tile of <see cref="TileRows"/> rows can see: its window plus the rows after the first.</summary>
    public static int TileKeySpan(in AttentionShape s) =>
        s.Window == long.MaxValue ? s.LocalCount : (int)Math.Min(s.LocalCount, s.Window + TileRows - 1);

    /// <summary>Scratch <see cref="Tile"/> needs: transposed keys and values of the tile's span, plus one row of logits.</summary>
    public static int TileScratchLength(in AttentionShape s) =>
        2 * s.HeadDim * TileKeySpan(s) + s.LocalCount + s.FarCount + s.ExtraCount;

    /// <summary>
    /// Rows [rowStart, rowEnd) (at most <see cref="TileRows"/>) of every query head that reads KV head
    /// <paramref name="kvHead"/>: the same rule and softmax as <see cref="Head"/>, computed for a block of queries.
    /// </summary>
    /// <remarks>
    /// A prefill's per-key work in <see cref="Head"/> is a dot product of head_dim floats and a multiply-add of head_dim
    /// floats, calls too short to vectorise (stories260K's head_dim is 8) and repeated for every row. Here the tile's
    /// local keys and values are transposed once into [head_dim, keys] panels, so a row's logits are head_dim
    /// multiply-adds along the keys and its output head_dim dot products along them, every one a long vector loop.
    /// Every (row, head) is computed the same way whichever tile holds it, and the reductions run in a fixed order
    /// from the start of each span, so the result never depends on how the rows are split over tiles or threads.
    /// </remarks>
    public static void Tile(AttentionSpans b, in AttentionShape s, int kvHead, int rowStart, int rowEnd, Span<float> scratch)
    {
        int hd = s.HeadDim, stride = s.KvHeads * hd, group = s.Heads / s.KvHeads;
        long firstPosition = s.FirstQueryPosition + rowStart, lastPosition = s.FirstQueryPosition + rowEnd - 1;
        int keyFrom = (int)(LocalStart(s, firstPosition) - s.LocalFirstPosition), keyTo = (int)(lastPosition - s.LocalFirstPosition);
        int n = keyTo - keyFrom + 1;
        Span<float> keysT = scratch[..(hd * n)], valuesT = scratch.Slice(hd * n, hd * n), logitRow = scratch[(2 * hd * n)..];
        for (int j = 0; j < n; j++)
        {
            var k = b.LocalKeys.Slice((keyFrom + j) * stride + kvHead * hd, hd);
            var v = b.LocalValues.Slice((keyFrom + j) * stride + kvHead * hd, hd);
            for (int c = 0; c < hd; c++)
            {
                keysT[c * n + j] = k[c];
                valuesT[c * n + j] = v[c];
            }
        }

        for (int row = rowStart; row < rowEnd; row++)
        {
            long i = s.FirstQueryPosition + row;
            int from = (int)(LocalStart(s, i) - s.LocalFirstPosition) - keyFrom, count = (int)(i - s.LocalFirstPosition) - keyFrom - from + 1;
            int farEnd = FarEnd(s, i);
            int extra = row == s.QueryCount - 1 ? s.ExtraCount : 0;
            long firstLocal = s.LocalFirstPosition + keyFrom + from;
            for (int head = kvHead * group; head < (kvHead + 1) * group; head++)
            {
                var logits = logitRow[..(farEnd + count + extra)];
                var local = logits.Slice(farEnd, count);
                var q = b.Query.Slice((row * s.Heads + head) * hd, hd);
                float slope = b.AlibiSlopes.IsEmpty ? 0f : b.AlibiSlopes[head];
                FarLogits(b, s, row, head, logits[..farEnd]);
                LocalLogits(keysT, n, from, q, s.Scale, local);
                if (slope != 0f)
                    for (int j = 0; j < count; j++) local[j] -= slope * Math.Min(i - (firstLocal + j), s.AlibiDistanceCap);
                for (int e = 0; e < extra; e++)
                    logits[farEnd + count + e] = b.ExtraLogits[head * s.ExtraCount + e];

                // Shift by the maximum first (large logits would overflow exp), then one softmax over every entry.
                TensorPrimitives.Subtract(logits, TensorPrimitives.Max(logits), logits);
                TensorPrimitives.Exp(logits, logits);
                TensorPrimitives.Multiply(logits, 1f / OrderedSum(logits), logits);

                var o = b.Output.Slice((row * s.Heads + head) * hd, hd);
                LocalOutput(valuesT, n, from, local, o);
                for (int c = 0; c < hd; c++)
                {
                    float acc = o[c];
                    for (int f = 0; f < farEnd; f++) acc += logits[f] * b.FarValues[f * stride + kvHead * hd + c];
                    for (int e = 0; e < extra; e++) acc += logits[farEnd + count + e] * b.ExtraValues[(head * s.ExtraCount + e) * hd + c];
                    o[c] = acc;
                }
            }
        }
    }

    /// <summary>Sum in a fixed order from the span's start (TensorPrimitives may align its lanes to the address).</summary>
    private static float OrderedSum(ReadOnlySpan<float> x)
    {
        int i = 0;
        float sum = 0f;
        if (Vector256.IsHardwareAccelerated && x.Length >= 16)
        {
            Vector256<float> a0 = Vector256<float>.Zero, a1 = Vector256<float>.Zero;
            for (; i <= x.Length - 16; i += 16)
            {
                a0 += Vector256.Create(x.Slice(i, 8));
                a1 += Vector256.Create(x.Slice(i + 8, 8));
            }
            sum = Vector256.Sum(a0 + a1);
        }
        for (; i < x.Length; i++) sum += x[i];
        return sum;
    }

    /// <summary>
    /// logits[j] = scale * sum_c q[c] * keysT[c, from + j]: each lane keeps its key's sum in a register over every
    /// dimension (one store per key instead of a read-modify-write per dimension); the tail uses the same fused
    /// multiply-adds in the same order, so a key's logit does not depend on where the vector part ends.
    /// </summary>
    private static unsafe void LocalLogits(ReadOnlySpan<float> keysT, int n, int from, ReadOnlySpan<float> q, float scale, Span<float> logits)
    {
        int hd = q.Length, count = logits.Length, j = 0;
        fixed (float* kt = keysT, pq = q, l = logits)
        {
            if (Vector256.IsHardwareAccelerated)
            {
                // Four independent chains of multiply-adds (32 keys): one chain alone waits on each FMA's latency.
                for (; j <= count - 32; j += 32)
                {
                    float* k = kt + from + j;
                    var q0 = Vector256.Create(pq[0]);
                    Vector256<float> a0 = Vector256.Load(k) * q0, a1 = Vector256.Load(k + 8) * q0, a2 = Vector256.Load(k + 16) * q0, a3 = Vector256.Load(k + 24) * q0;
                    for (int c = 1; c < hd; c++)
                    {
                        float* kc = k + (long)c * n;
                        var qc = Vector256.Create(pq[c]);
                        a0 = Vector256.FusedMultiplyAdd(Vector256.Load(kc), qc, a0);
                        a1 = Vector256.FusedMultiplyAdd(Vector256.Load(kc + 8), qc, a1);
                        a2 = Vector256.FusedMultiplyAdd(Vector256.Load(kc + 16), qc, a2);
                        a3 = Vector256.FusedMultiplyAdd(Vector256.Load(kc + 24), qc, a3);
                    }
                    Vector256.Store(a0 * scale, l + j);
                    Vector256.Store(a1 * scale, l + j + 8);
                    Vector256.Store(a2 * scale, l + j + 16);
                    Vector256.Store(a3 * scale, l + j + 24);
                }
                for (; j <= count - 8; j += 8)
                {
                    float* k = kt + from + j;
                    var acc = Vector256.Load(k) * pq[0];
                    for (int c = 1; c < hd; c++) acc = Vector256.FusedMultiplyAdd(Vector256.Load(k + (long)c * n), Vector256.Create(pq[c]), acc);
                    Vector256.Store(acc * scale, l + j);
                }
            }
            for (; j < count; j++)
            {
                float* k = kt + from + j;
                float acc = k[0] * pq[0];
                for (int c = 1; c < hd; c++) acc = MathF.FusedMultiplyAdd(k[(long)c * n], pq[c], acc);
                l[j] = acc * scale;
            }
        }
    }

    /// <summary>
    /// o[c] = sum_j p[j] * valuesT[c, from + j] for every c, four dimensions per pass so each load of p serves four
    /// accumulators; the order (lanes from the span's start, then the tail) depends only on the length.
    /// </summary>
    private static unsafe void LocalOutput(ReadOnlySpan<float> valuesT, int n, int from, ReadOnlySpan<float> p, Span<float> o)
    {
        int hd = o.Length, count = p.Length;
        fixed (float* vt = valuesT, pp = p, po = o)
        {
            int c = 0;
            for (; c <= hd - 4; c += 4)
            {
                float* v0 = vt + (long)c * n + from, v1 = v0 + n, v2 = v1 + n, v3 = v2 + n;
                int j = 0;
                float s0 = 0f, s1 = 0f, s2 = 0f, s3 = 0f;
                if (Vector256.IsHardwareAccelerated && count >= 8)
                {
                    Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
                    for (; j <= count - 8; j += 8)
                    {
                        var pv = Vector256.Load(pp + j);
                        a0 = Vector256.FusedMultiplyAdd(pv, Vector256.Load(v0 + j), a0);
                        a1 = Vector256.FusedMultiplyAdd(pv, Vector256.Load(v1 + j), a1);
                        a2 = Vector256.FusedMultiplyAdd(pv, Vector256.Load(v2 + j), a2);
                        a3 = Vector256.FusedMultiplyAdd(pv, Vector256.Load(v3 + j), a3);
                    }
                    (s0, s1, s2, s3) = (Vector256.Sum(a0), Vector256.Sum(a1), Vector256.Sum(a2), Vector256.Sum(a3));
                }
                for (; j < count; j++)
                {
                    s0 = MathF.FusedMultiplyAdd(pp[j], v0[j], s0);
                    s1 = MathF.FusedMultiplyAdd(pp[j], v1[j], s1);
                    s2 = MathF.FusedMultiplyAdd(pp[j], v2[j], s2);
                    s3 = MathF.FusedMultiplyAdd(pp[j], v3[j], s3);
                }
                (po[c], po[c + 1], po[c + 2], po[c + 3]) = (s0, s1, s2, s3);
            }
            for (; c < hd; c++)
            {
                float* v = vt + (long)c * n + from;
                int j = 0;
                float sum = 0f;
                if (Vector256.IsHardwareAccelerated && count >= 8)
                {
                    Vector256<float> a = default;
                    for (; j <= count - 8; j += 8) a = Vector256.FusedMultiplyAdd(Vector256.Load(pp + j), Vector256.Load(v + j), a);
                    sum = Vector256.Sum(a);
                }
                for (; j < count; j++) sum = MathF.FusedMultiplyAdd(pp[j], v[j], sum);
                po[c] = sum;
            }
        }
    }
}
