using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LongLM.Kernels.Ops;

public static partial class Attention
{
    /// <summary>Whether <see cref="Logits16"/> serves a head width: AVX-512 and whole 16-float vectors.</summary>
    internal static bool HasLogits16(int headDim) => Avx512F.IsSupported && headDim % 16 == 0;

    /// <summary>
    /// dst[t] = scale (q . k_t) for 16 keys <paramref name="stride"/> floats apart, the decode-at-depth hot loop of
    /// <see cref="Group"/>. One FMA chain per key gives 16 vectors of partial sums; instead of a horizontal sum per key
    /// (24 dependent instructions each, which made Group compute bound at 1.5-3 GB/s of keys), one transpose-add tree
    /// reduces all 16 at once in 15 adds and 31 shuffles. Sums are taken in a different order than
    /// TensorPrimitives.Dot's, so the logits differ from <see cref="Head"/>'s by float rounding.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    internal static unsafe void Logits16(float* q, float* k, int stride, int hd, float scale, float* dst)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        Vector512<float> a8 = default, a9 = default, a10 = default, a11 = default, a12 = default, a13 = default, a14 = default, a15 = default;
        for (int c = 0; c < hd; c += 16)
        {
            Vector512<float> qc = Vector512.Load(q + c);
            float* kc = k + c;
            a0 = Avx512F.FusedMultiplyAdd(qc, Vector512.Load(kc), a0);
            a1 = Avx512F.FusedMultiplyAdd(qc, Vector512.Load(kc + stride), a1);
            a2 = Avx512F.FusedMultiplyAdd(qc, Vector512.Load(kc + 2 * stride), a2);
            a3 = Avx512F.FusedMultiplyAdd(qc, Vector512.Load(kc + 3 * stride), a3);
            a4 = Avx512F.FusedMultiplyAdd(qc, Vector512.Load(kc + 4 * stride), a4);
            a5 = Avx512F.FusedMultiplyAdd(qc, Vector512.Load(kc + 5 * stride), a5);
            a6 = Avx512F.FusedMultiplyAdd(qc, Vector512.Load(kc + 6 * stride), a6);
            a7 = Avx512F.FusedMultiplyAdd(qc, Vector512.Load(kc + 7 * stride), a7);
            a8 = Avx512F.FusedMultiplyAdd(qc, Vector512.Load(kc + 8 * stride), a8);
            a9 = Avx512F.FusedMultiplyAdd(qc, Vector512.Load(kc + 9 * stride), a9);
            a10 = Avx512F.FusedMultiplyAdd(qc, Vector512.Load(kc + 10 * stride), a10);
            a11 = Avx512F.FusedMultiplyAdd(qc, Vector512.Load(kc + 11 * stride), a11);
            a12 = Avx512F.FusedMultiplyAdd(qc, Vector512.Load(kc + 12 * stride), a12);
            a13 = Avx512F.FusedMultiplyAdd(qc, Vector512.Load(kc + 13 * stride), a13);
            a14 = Avx512F.FusedMultiplyAdd(qc, Vector512.Load(kc + 14 * stride), a14);
            a15 = Avx512F.FusedMultiplyAdd(qc, Vector512.Load(kc + 15 * stride), a15);
        }
        // Halves of 256 bits: w_p holds key 2p's 8 partials in lanes 0-1 and key 2p+1's in lanes 2-3.
        Vector512<float> w0 = Half(a0, a1), w1 = Half(a2, a3), w2 = Half(a4, a5), w3 = Half(a6, a7);
        Vector512<float> w4 = Half(a8, a9), w5 = Half(a10, a11), w6 = Half(a12, a13), w7 = Half(a14, a15);
        // Quarters: x_p's 128-bit lane j holds key 4p+j's 4 partials.
        Vector512<float> x0 = Quarter(w0, w1), x1 = Quarter(w2, w3), x2 = Quarter(w4, w5), x3 = Quarter(w6, w7);
        // Within lanes: z's lane j, element e is the full sum of key 4e + j.
        Vector512<float> y0 = Avx512F.UnpackLow(x0, x1) + Avx512F.UnpackHigh(x0, x1);
        Vector512<float> y1 = Avx512F.UnpackLow(x2, x3) + Avx512F.UnpackHigh(x2, x3);
        Vector512<float> z = Avx512F.UnpackLow(y0.AsDouble(), y1.AsDouble()).AsSingle() + Avx512F.UnpackHigh(y0.AsDouble(), y1.AsDouble()).AsSingle();
        Vector512<float> ordered = Avx512F.PermuteVar16x32(z, Vector512.Create(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15));
        (ordered * Vector512.Create(scale)).Store(dst);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Half(Vector512<float> a, Vector512<float> b) =>
        Avx512F.Shuffle4x128(a, b, 0x44) + Avx512F.Shuffle4x128(a, b, 0xEE);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Quarter(Vector512<float> a, Vector512<float> b) =>
        Avx512F.Shuffle4x128(a, b, 0x88) + Avx512F.Shuffle4x128(a, b, 0xDD);

    /// <summary>
    /// o[0, hd) += sum_t p[t] v_t over <paramref name="count"/> value rows <paramref name="stride"/> floats apart, with
    /// o kept in registers (four 16-float columns at a time, four independent FMA chains) instead of one
    /// TensorPrimitives.MultiplyAdd call per (value row, head). Rows are added in order, each with fused multiply-adds.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    internal static unsafe void WeightedRows(float* v, int stride, int hd, float* p, int count, float* o)
    {
        int c = 0;
        for (; c + 64 <= hd; c += 64)
        {
            Vector512<float> o0 = Vector512.Load(o + c), o1 = Vector512.Load(o + c + 16), o2 = Vector512.Load(o + c + 32), o3 = Vector512.Load(o + c + 48);
            float* vc = v + c;
            for (int t = 0; t < count; t++, vc += stride)
            {
                Vector512<float> pt = Vector512.Create(p[t]);
                o0 = Avx512F.FusedMultiplyAdd(Vector512.Load(vc), pt, o0);
                o1 = Avx512F.FusedMultiplyAdd(Vector512.Load(vc + 16), pt, o1);
                o2 = Avx512F.FusedMultiplyAdd(Vector512.Load(vc + 32), pt, o2);
                o3 = Avx512F.FusedMultiplyAdd(Vector512.Load(vc + 48), pt, o3);
            }
            o0.Store(o + c);
            o1.Store(o + c + 16);
            o2.Store(o + c + 32);
            o3.Store(o + c + 48);
        }
        for (; c < hd; c += 16)
        {
            Vector512<float> acc = Vector512.Load(o + c);
            float* vc = v + c;
            for (int t = 0; t < count; t++, vc += stride) acc = Avx512F.FusedMultiplyAdd(Vector512.Load(vc), Vector512.Create(p[t]), acc);
            acc.Store(o + c);
        }
    }
}
