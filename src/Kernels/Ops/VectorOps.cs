using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LongLM.Kernels.Ops;

/// <summary>
/// The few vector operations the CPU kernels need (the tiled GEMM, the attention tile), as a static interface over one
/// vector type, so that one kernel (<see cref="MatMulTiled"/>, <see cref="Attention.Tile"/>) is compiled once per width
/// by the JIT's struct specialisation (System.Numerics.Tensors' operator-struct pattern) instead of being written
/// three times.
/// </summary>
internal unsafe interface IVectorOps<TV> where TV : struct
{
    /// <summary>Float lanes in one vector.</summary>
    static abstract int Count { get; }
    static abstract TV Zero { get; }
    static abstract TV Load(float* p);
    /// <summary>Count bf16 values widened to float32 (bf16 is the high half of a float32: zero-extend, shift left 16).</summary>
    static abstract TV LoadBFloat16(ushort* p);
    static abstract TV FusedMultiplyAdd(TV a, TV b, TV addend);
    static abstract float Sum(TV v);
    static abstract TV Create(float value);
    static abstract void Store(TV v, float* p);
    static abstract TV Add(TV a, TV b);
    static abstract TV Multiply(TV a, TV b);
    static abstract TV Subtract(TV a, TV b);
    static abstract TV Divide(TV a, TV b);
    /// <summary>The platform's max (vmaxps: no NaN or -0 fix-ups; the kernels never feed it NaN).</summary>
    static abstract TV Max(TV a, TV b);
    /// <summary>The largest lane (exact: max does not round, so the lane order does not matter).</summary>
    static abstract float MaxAcross(TV v);
    /// <summary>Lanes rounded to the nearest integer (ties to even).</summary>
    static abstract TV Round(TV v);
    /// <summary>2^n for integer-valued lanes n in [-126, 127]: n + 127 placed in the exponent field.</summary>
    static abstract TV Pow2(TV n);
    /// <summary>+0 where x &lt; limit, else <paramref name="value"/> (a NaN x keeps its NaN value).</summary>
    static abstract TV ZeroBelow(TV x, float limit, TV value);
    /// <summary>Lane-wise x &gt;= 0 ? ifNonNegative : otherwise (a NaN x takes otherwise).</summary>
    static abstract TV SelectNonNegative(TV x, TV ifNonNegative, TV otherwise);
}

/// <summary>Functions written once over <see cref="IVectorOps{TV}"/>.</summary>
internal static class VectorMath<TV, TOps> where TV : struct where TOps : IVectorOps<TV>
{
    /// <summary>
    /// e^x for x &lt;= 0 (a softmax's shifted logits), within 2 ulp over [-87.3, 0]; 0 below -87.3 (and for -inf), 1 at 0, NaN for NaN.
    /// Cephes' expf: x = n ln2 + r with |r| &lt;= ln2/2 (ln2 split in two so n ln2 is exact), e^r by its degree-6
    /// Taylor-like minimax polynomial, times 2^n through the exponent bits (below -87.3 n leaves the exponent range;
    /// those lanes are replaced by 0). TensorPrimitives.Exp handles the whole
    /// float range and special values, and cost 16% of a long-stream perplexity run in the attention tile; this is
    /// about a dozen instructions per vector, the same for every lane and every width's lane count.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV ExpNonPositive(TV x)
    {
        TV n = TOps.Round(TOps.Multiply(x, TOps.Create(1.44269504088896341f)));
        TV r = TOps.FusedMultiplyAdd(n, TOps.Create(-0.693359375f), x);
        r = TOps.FusedMultiplyAdd(n, TOps.Create(2.12194440e-4f), r);
        TV p = TOps.Create(1.9875691500e-4f);
        p = TOps.FusedMultiplyAdd(p, r, TOps.Create(1.3981999507e-3f));
        p = TOps.FusedMultiplyAdd(p, r, TOps.Create(8.3334519073e-3f));
        p = TOps.FusedMultiplyAdd(p, r, TOps.Create(4.1665795894e-2f));
        p = TOps.FusedMultiplyAdd(p, r, TOps.Create(1.6666665459e-1f));
        p = TOps.FusedMultiplyAdd(p, r, TOps.Create(5.0000001201e-1f));
        p = TOps.FusedMultiplyAdd(p, TOps.Multiply(r, r), TOps.Add(r, TOps.Create(1f)));
        return TOps.ZeroBelow(x, -87.3f, TOps.Multiply(p, TOps.Pow2(n)));
    }

    /// <summary>
    /// 2^y for y &lt;= 0 (a softmax's logits in log2 units, shifted by their max), within about 2 ulp over [-125.5, 0];
    /// exactly 0 below (and for -inf), NaN for NaN. Cephes' exp2f: y = n + r with n = round(y), |r| &lt;= 1/2 exact,
    /// 2^r = 1 + r P(r) with its degree-5 polynomial, times 2^n through the exponent bits. Below n = -125 the lane is
    /// replaced by 0 before any product could be subnormal: a subnormal or underflowing result costs a microcode
    /// assist when flush-to-zero is off (.NET's default), which is why AVX-512's vscalefps, exact down to 2^-149, made
    /// the attention slower wherever masked lanes (-inf) met it. Sixteen instructions against
    /// <see cref="ExpNonPositive"/>'s twenty: no ln2 split.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Exp2NonPositive(TV y)
    {
        TV n = TOps.Round(y);
        TV r = TOps.Subtract(y, n);
        TV p = TOps.Create(1.535336188319500e-4f);
        p = TOps.FusedMultiplyAdd(p, r, TOps.Create(1.339887440266574e-3f));
        p = TOps.FusedMultiplyAdd(p, r, TOps.Create(9.618437357674640e-3f));
        p = TOps.FusedMultiplyAdd(p, r, TOps.Create(5.550332471162809e-2f));
        p = TOps.FusedMultiplyAdd(p, r, TOps.Create(2.402264791363012e-1f));
        p = TOps.FusedMultiplyAdd(p, r, TOps.Create(6.931472028550421e-1f));
        p = TOps.FusedMultiplyAdd(p, r, TOps.Create(1f));
        return TOps.ZeroBelow(n, -125f, TOps.Multiply(p, TOps.Pow2(n)));
    }
}

/// <summary>Vector512 (AVX-512).</summary>
internal readonly unsafe struct Vector512Ops : IVectorOps<Vector512<float>>
{
    public static int Count => Vector512<float>.Count;
    public static Vector512<float> Zero => Vector512<float>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load(float* p) => Vector512.Load(p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> LoadBFloat16(ushort* p) =>
        Vector512.ShiftLeft(Vector512.WidenLower(Vector256.Load(p).ToVector512Unsafe()), 16).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> FusedMultiplyAdd(Vector512<float> a, Vector512<float> b, Vector512<float> addend) =>
        Vector512.FusedMultiplyAdd(a, b, addend);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector512<float> v) => Vector512.Sum(v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Create(float value) => Vector512.Create(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector512<float> v, float* p) => Vector512.Store(v, p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Multiply(Vector512<float> a, Vector512<float> b) => a * b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Subtract(Vector512<float> a, Vector512<float> b) => a - b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Divide(Vector512<float> a, Vector512<float> b) => a / b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Max(Vector512<float> a, Vector512<float> b) => Vector512.MaxNative(a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(Vector512<float> v)
    {
        var half = Vector256.MaxNative(v.GetLower(), v.GetUpper());
        return Vector256Ops.MaxAcross(half);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Round(Vector512<float> v) => Vector512.Round(v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Pow2(Vector512<float> n) => Vector512.ShiftLeft(Vector512.ConvertToInt32Native(n) + Vector512.Create(127), 23).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ZeroBelow(Vector512<float> x, float limit, Vector512<float> value) =>
        Vector512.AndNot(value, Vector512.LessThan(x, Vector512.Create(limit)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> SelectNonNegative(Vector512<float> x, Vector512<float> ifNonNegative, Vector512<float> otherwise) =>
        Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(x, Vector512<float>.Zero), ifNonNegative, otherwise);
}

/// <summary>Vector256 (AVX2 + FMA, or whatever the JIT maps it to).</summary>
internal readonly unsafe struct Vector256Ops : IVectorOps<Vector256<float>>
{
    public static int Count => Vector256<float>.Count;
    public static Vector256<float> Zero => Vector256<float>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load(float* p) => Vector256.Load(p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> LoadBFloat16(ushort* p)
    {
        // vpmovzxwd straight from memory: one instruction for the load and the widening.
        var wide = Avx2.IsSupported ? Avx2.ConvertToVector256Int32(p).AsUInt32() : Vector256.WidenLower(Vector128.Load(p).ToVector256Unsafe());
        return Vector256.ShiftLeft(wide, 16).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> FusedMultiplyAdd(Vector256<float> a, Vector256<float> b, Vector256<float> addend) =>
        Vector256.FusedMultiplyAdd(a, b, addend);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector256<float> v) => Vector256.Sum(v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Create(float value) => Vector256.Create(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector256<float> v, float* p) => Vector256.Store(v, p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Add(Vector256<float> a, Vector256<float> b) => a + b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Multiply(Vector256<float> a, Vector256<float> b) => a * b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Subtract(Vector256<float> a, Vector256<float> b) => a - b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Divide(Vector256<float> a, Vector256<float> b) => a / b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Max(Vector256<float> a, Vector256<float> b) => Vector256.MaxNative(a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(Vector256<float> v)
    {
        var half = Vector128.MaxNative(v.GetLower(), v.GetUpper());
        return Vector128Ops.MaxAcross(half);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Round(Vector256<float> v) => Vector256.Round(v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Pow2(Vector256<float> n) => Vector256.ShiftLeft(Vector256.ConvertToInt32Native(n) + Vector256.Create(127), 23).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ZeroBelow(Vector256<float> x, float limit, Vector256<float> value) =>
        Vector256.AndNot(value, Vector256.LessThan(x, Vector256.Create(limit)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> SelectNonNegative(Vector256<float> x, Vector256<float> ifNonNegative, Vector256<float> otherwise) =>
        Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(x, Vector256<float>.Zero), ifNonNegative, otherwise);
}

/// <summary>Vector128 (SSE, NEON).</summary>
internal readonly unsafe struct Vector128Ops : IVectorOps<Vector128<float>>
{
    public static int Count => Vector128<float>.Count;
    public static Vector128<float> Zero => Vector128<float>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Load(float* p) => Vector128.Load(p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> LoadBFloat16(ushort* p) =>
        Vector128.ShiftLeft(Vector128.WidenLower(Vector128.CreateScalar(*(ulong*)p).AsUInt16()), 16).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> FusedMultiplyAdd(Vector128<float> a, Vector128<float> b, Vector128<float> addend) =>
        Vector128.FusedMultiplyAdd(a, b, addend);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector128<float> v) => Vector128.Sum(v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Create(float value) => Vector128.Create(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector128<float> v, float* p) => Vector128.Store(v, p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Add(Vector128<float> a, Vector128<float> b) => a + b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Multiply(Vector128<float> a, Vector128<float> b) => a * b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Subtract(Vector128<float> a, Vector128<float> b) => a - b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Divide(Vector128<float> a, Vector128<float> b) => a / b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Max(Vector128<float> a, Vector128<float> b) => Vector128.MaxNative(a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(Vector128<float> v)
    {
        v = Vector128.MaxNative(v, Vector128.Shuffle(v, Vector128.Create(2, 3, 0, 1)));
        v = Vector128.MaxNative(v, Vector128.Shuffle(v, Vector128.Create(1, 0, 3, 2)));
        return v.ToScalar();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Round(Vector128<float> v) => Vector128.Round(v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Pow2(Vector128<float> n) => Vector128.ShiftLeft(Vector128.ConvertToInt32Native(n) + Vector128.Create(127), 23).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> ZeroBelow(Vector128<float> x, float limit, Vector128<float> value) =>
        Vector128.AndNot(value, Vector128.LessThan(x, Vector128.Create(limit)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> SelectNonNegative(Vector128<float> x, Vector128<float> ifNonNegative, Vector128<float> otherwise) =>
        Vector128.ConditionalSelect(Vector128.GreaterThanOrEqual(x, Vector128<float>.Zero), ifNonNegative, otherwise);
}
