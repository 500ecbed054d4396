using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LongLM.Kernels.Ops;

/// <summary>
/// The few vector operations the tiled GEMM needs, as a static interface over one vector type, so that one kernel
/// (<see cref="MatMulTiled"/>) is compiled once per width by the JIT's struct specialisation (System.Numerics.Tensors'
/// operator-struct pattern) instead of being written three times.
/// </summary>
internal unsafe interface IMatMulVector<TV> where TV : struct
{
    /// <summary>Float lanes in one vector.</summary>
    static abstract int Count { get; }
    static abstract TV Zero { get; }
    static abstract TV Load(float* p);
    /// <summary>Count bf16 values widened to float32 (bf16 is the high half of a float32: zero-extend, shift left 16).</summary>
    static abstract TV LoadBFloat16(ushort* p);
    static abstract TV FusedMultiplyAdd(TV a, TV b, TV addend);
    static abstract float Sum(TV v);
}

/// <summary>Vector512 (AVX-512).</summary>
internal readonly unsafe struct MatMulVector512 : IMatMulVector<Vector512<float>>
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
}

/// <summary>Vector256 (AVX2 + FMA, or whatever the JIT maps it to).</summary>
internal readonly unsafe struct MatMulVector256 : IMatMulVector<Vector256<float>>
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
}

/// <summary>Vector128 (SSE, NEON).</summary>
internal readonly unsafe struct MatMulVector128 : IMatMulVector<Vector128<float>>
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
}
