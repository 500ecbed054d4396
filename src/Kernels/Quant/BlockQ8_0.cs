using System.Runtime.Intrinsics;

namespace LongLM.Kernels.Quant;

/// <summary>
/// ggml's block_q8_0: 32 elements as { fp16 d; int8 qs[32] } (34 bytes), value = qs[j] * d.
/// The quantizer follows ggml's quantize_row_q8_0_ref: d = max|x| / 127, q = round-half-away(x / d).
/// </summary>
public static unsafe class BlockQ8_0
{
    /// <summary>Elements per block.</summary>
    public const int BlockSize = 32;
    /// <summary>Bytes per block: the fp16 scale then 32 int8 quants.</summary>
    public const int BlockBytes = 2 + BlockSize;

    /// <summary>
    /// Quantizes <paramref name="x"/> (length a multiple of 32) into <paramref name="dst"/> (x.Length / 32 * 34 bytes):
    /// the bytes of <see cref="QuantizeRowReference"/>, eight lanes at a time where the CPU has 256-bit vectors (the
    /// same float operations per element; round-half-away is truncate, then one step away from zero when the exact
    /// remainder is at least 0.5, which is C's roundf for every finite value).
    /// </summary>
    public static void QuantizeRow(ReadOnlySpan<float> x, Span<byte> dst)
    {
        int blocks = CheckRow(x, dst);
        if (!Vector256.IsHardwareAccelerated)
        {
            QuantizeRowReference(x, dst);
            return;
        }
        fixed (float* px = x)
        fixed (byte* py = dst)
            for (int b = 0; b < blocks; b++)
            {
                float* xb = px + b * BlockSize;
                byte* yb = py + b * BlockBytes;
                float amax = LoadBlock(xb, out var v0, out var v1, out var v2, out var v3);
                float d = amax / 127f;
                float id = d != 0f ? 1f / d : 0f;
                WriteScale(new Span<byte>(yb, 2), d);
                var scale = Vector256.Create(id);
                Vector256<short> lo = Vector256.Narrow(RoundAway(v0 * scale), RoundAway(v1 * scale));
                Vector256<short> hi = Vector256.Narrow(RoundAway(v2 * scale), RoundAway(v3 * scale));
                Vector256.Narrow(lo, hi).Store((sbyte*)(yb + 2));
            }
    }

    /// <summary>ggml's quantize_row_q8_0_ref, one element at a time: the reference <see cref="QuantizeRow"/> is tested against.</summary>
    public static void QuantizeRowReference(ReadOnlySpan<float> x, Span<byte> dst)
    {
        int blocks = CheckRow(x, dst);
        for (int b = 0; b < blocks; b++)
        {
            ReadOnlySpan<float> xb = x.Slice(b * BlockSize, BlockSize);
            Span<byte> yb = dst.Slice(b * BlockBytes, BlockBytes);
            float amax = 0f;
            for (int j = 0; j < BlockSize; j++) amax = MathF.Max(amax, MathF.Abs(xb[j]));
            float d = amax / 127f;
            float id = d != 0f ? 1f / d : 0f; // ggml scales by the float d, not its fp16 rounding
            WriteScale(yb, d);
            for (int j = 0; j < BlockSize; j++)
                yb[2 + j] = (byte)(sbyte)MathF.Round(xb[j] * id, MidpointRounding.AwayFromZero); // C roundf
        }
    }

    private static int CheckRow(ReadOnlySpan<float> x, Span<byte> dst)
    {
        if (x.Length % BlockSize != 0) throw new ArgumentException($"q8_0 needs a multiple of {BlockSize} elements, got {x.Length}", nameof(x));
        int blocks = x.Length / BlockSize;
        if (dst.Length < blocks * BlockBytes) throw new ArgumentException("q8_0 destination too short", nameof(dst));
        return blocks;
    }

    /// <summary>C's roundf on each lane, as int32: the exact remainder v - trunc(v) decides the step away from zero.</summary>
    internal static Vector256<int> RoundAway(Vector256<float> v)
    {
        Vector256<float> t = Vector256.Truncate(v);
        Vector256<float> away = Vector256.Create(1f) | (v & Vector256.Create(-0f)); // +-1 with v's sign
        Vector256<float> step = Vector256.GreaterThanOrEqual(Vector256.Abs(v - t), Vector256.Create(0.5f)) & away;
        return Vector256.ConvertToInt32(t + step);
    }

    /// <summary>A block's 32 floats as four vectors, and the largest magnitude among them (both quantizers start so).</summary>
    internal static float LoadBlock(float* xb, out Vector256<float> v0, out Vector256<float> v1, out Vector256<float> v2, out Vector256<float> v3)
    {
        v0 = Vector256.Load(xb);
        v1 = Vector256.Load(xb + 8);
        v2 = Vector256.Load(xb + 16);
        v3 = Vector256.Load(xb + 24);
        return MaxAcross(Vector256.Max(Vector256.Max(Vector256.Abs(v0), Vector256.Abs(v1)), Vector256.Max(Vector256.Abs(v2), Vector256.Abs(v3))));
    }

    /// <summary>The largest of the eight lanes (Math.Max's NaN rule, as the scalar loop's MathF.Max).</summary>
    internal static float MaxAcross(Vector256<float> v)
    {
        Vector128<float> m = Vector128.Max(v.GetLower(), v.GetUpper());
        return MathF.Max(MathF.Max(m[0], m[1]), MathF.Max(m[2], m[3]));
    }

    /// <summary>Widens q8_0 blocks back to float32: y = qs * d.</summary>
    public static void DequantizeRow(ReadOnlySpan<byte> src, Span<float> y)
    {
        int blocks = y.Length / BlockSize;
        for (int b = 0; b < blocks; b++)
        {
            ReadOnlySpan<byte> xb = src.Slice(b * BlockBytes, BlockBytes);
            float d = ReadScale(xb);
            for (int j = 0; j < BlockSize; j++) y[b * BlockSize + j] = (sbyte)xb[2 + j] * d;
        }
    }

    internal static void WriteScale(Span<byte> block, float d) =>
        BitConverter.TryWriteBytes(block, BitConverter.HalfToUInt16Bits((Half)d));

    internal static float ReadScale(ReadOnlySpan<byte> block) =>
        (float)BitConverter.UInt16BitsToHalf((ushort)(block[0] | block[1] << 8));
}
