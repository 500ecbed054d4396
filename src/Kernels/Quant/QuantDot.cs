using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LongLM.Kernels.Quant;

/// <summary>
/// Block dot products of a quantized weight row with a q8_0-quantized activation row, as ggml's
/// ggml_vec_dot_q8_0_q8_0 / ggml_vec_dot_q4_0_q8_0 do them: an exact int32 sum per block, scaled by d_w * d_x
/// and accumulated in float. The AVX2 path uses the sign trick (|a| as unsigned bytes times sign(b, a) as signed
/// bytes with MultiplyAddAdjacent, then MultiplyAddAdjacent by ones to int32); elsewhere the scalar loop runs.
/// Both paths compute the same exact integer per block; only the float accumulation order differs.
/// </summary>
public static unsafe class QuantDot
{
    /// <summary>sum over blocks of d_w d_x sum_j w_j x_j for q8_0 rows of <paramref name="blocks"/> blocks.</summary>
    public static float DotQ8_0(byte* w, byte* x, int blocks)
    {
        if (Avx2.IsSupported) return DotQ8_0Avx2(w, x, blocks);
        return DotQ8_0Scalar(w, x, blocks);
    }

    /// <summary>q4_0 weight row times q8_0 activation row.</summary>
    public static float DotQ4_0(byte* w, byte* x, int blocks)
    {
        if (Avx2.IsSupported) return DotQ4_0Avx2(w, x, blocks);
        return DotQ4_0Scalar(w, x, blocks);
    }

    internal static float DotQ8_0Scalar(byte* w, byte* x, int blocks)
    {
        float sum = 0f;
        for (int b = 0; b < blocks; b++, w += BlockQ8_0.BlockBytes, x += BlockQ8_0.BlockBytes)
        {
            int isum = 0;
            for (int j = 0; j < 32; j++) isum += (sbyte)w[2 + j] * (sbyte)x[2 + j];
            sum += Scale(w) * Scale(x) * isum;
        }
        return sum;
    }

    internal static float DotQ4_0Scalar(byte* w, byte* x, int blocks)
    {
        float sum = 0f;
        for (int b = 0; b < blocks; b++, w += BlockQ4_0.BlockBytes, x += BlockQ8_0.BlockBytes)
        {
            int isum = 0;
            for (int j = 0; j < 16; j++)
            {
                isum += ((w[2 + j] & 0x0F) - 8) * (sbyte)x[2 + j];
                isum += ((w[2 + j] >> 4) - 8) * (sbyte)x[2 + j + 16];
            }
            sum += Scale(w) * Scale(x) * isum;
        }
        return sum;
    }

    private static float DotQ8_0Avx2(byte* w, byte* x, int blocks)
    {
        Vector256<float> acc = Vector256<float>.Zero;
        for (int b = 0; b < blocks; b++, w += BlockQ8_0.BlockBytes, x += BlockQ8_0.BlockBytes)
        {
            Vector256<sbyte> qw = Vector256.Load((sbyte*)(w + 2)), qx = Vector256.Load((sbyte*)(x + 2));
            acc = Fma.MultiplyAdd(Vector256.Create(Scale(w) * Scale(x)), Avx.ConvertToVector256Single(BytePairSums(qw, qx)), acc);
        }
        return Vector256.Sum(acc);
    }

    private static float DotQ4_0Avx2(byte* w, byte* x, int blocks)
    {
        Vector256<float> acc = Vector256<float>.Zero;
        Vector256<byte> low = Vector256.Create((byte)0x0F), eight = Vector256.Create((byte)8);
        for (int b = 0; b < blocks; b++, w += BlockQ4_0.BlockBytes, x += BlockQ8_0.BlockBytes)
        {
            Vector128<byte> packed = Vector128.Load(w + 2);
            // bytes 0..15 = low nibbles (elements 0..15), bytes 16..31 = high nibbles (elements 16..31)
            Vector256<byte> nibbles = Vector256.Create(packed, Vector128.ShiftRightLogical(packed.AsUInt16(), 4).AsByte()) & low;
            Vector256<sbyte> qw = Avx2.Subtract(nibbles, eight).AsSByte();
            Vector256<sbyte> qx = Vector256.Load((sbyte*)(x + 2));
            acc = Fma.MultiplyAdd(Vector256.Create(Scale(w) * Scale(x)), Avx.ConvertToVector256Single(BytePairSums(qw, qx)), acc);
        }
        return Vector256.Sum(acc);
    }

    /// <summary>Eight int32 partial sums of a[j] * b[j] over 32 signed bytes (exact for quants within +-127).</summary>
    private static Vector256<int> BytePairSums(Vector256<sbyte> a, Vector256<sbyte> b)
    {
        // MultiplyAddAdjacent takes unsigned x signed bytes: move a's sign onto b. The quantizers never emit -128
        // (q8_0 is within +-127, q4_0 within [-8, 7]), so a pair sums to at most 2*127*127 < 32767 and the int16
        // saturation never triggers.
        Vector256<byte> absA = Avx2.Abs(a);
        Vector256<sbyte> signedB = Avx2.Sign(b, a);
        Vector256<short> pairs = Avx2.MultiplyAddAdjacent(absA, signedB);
        return Avx2.MultiplyAddAdjacent(pairs, Vector256.Create((short)1));
    }

    private static float Scale(byte* block) => (float)BitConverter.UInt16BitsToHalf(*(ushort*)block);
}
