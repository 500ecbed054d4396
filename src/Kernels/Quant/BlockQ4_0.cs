using System.Runtime.Intrinsics;

namespace LongLM.Kernels.Quant;

/// <summary>
/// ggml's block_q4_0: 32 elements as { fp16 d; uint8 qs[16] } (18 bytes); element j is the low nibble of qs[j],
/// element j+16 the high nibble, value = (q - 8) * d. The quantizer follows ggml's quantize_row_q4_0_ref:
/// max = the signed value of largest magnitude, d = max / -8, q = min(15, (int8)(x / d + 8.5)).
/// </summary>
public static class BlockQ4_0
{
    /// <summary>Elements per block.</summary>
    public const int BlockSize = 32;
    /// <summary>Bytes per block: the fp16 scale then 16 bytes of nibbles.</summary>
    public const int BlockBytes = 2 + BlockSize / 2;

    /// <summary>
    /// Quantizes <paramref name="x"/> (length a multiple of 32) into <paramref name="dst"/> (x.Length / 32 * 18 bytes):
    /// the bytes of <see cref="QuantizeRowReference"/>, eight lanes at a time where the CPU has 256-bit vectors. The
    /// largest magnitude comes from a vector max; its first element (the reference's strict comparison keeps the first
    /// of equal magnitudes) and so its sign from a scan of the block.
    /// </summary>
    public static unsafe void QuantizeRow(ReadOnlySpan<float> x, Span<byte> dst)
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
                float amax = BlockQ8_0.LoadBlock(xb, out var v0, out var v1, out var v2, out var v3);
                float max = 0f;
                if (amax > 0f) // otherwise (all zeros, or a NaN) the reference's strict test never fires and max stays 0
                    for (int j = 0; j < BlockSize; j++)
                        if (MathF.Abs(xb[j]) == amax) { max = xb[j]; break; }
                float d = max / -8f;
                float id = d != 0f ? 1f / d : 0f;
                BlockQ8_0.WriteScale(new Span<byte>(yb, 2), d);
                var scale = Vector256.Create(id);
                Vector256<short> lo = Vector256.Narrow(Quant(v0, scale), Quant(v1, scale));
                Vector256<short> hi = Vector256.Narrow(Quant(v2, scale), Quant(v3, scale));
                Vector256<byte> q = Vector256.Narrow(lo, hi).AsByte(); // q[j] for j = 0..31, each in [0, 15]
                (q.GetLower() | Vector128.ShiftLeft(q.GetUpper().AsUInt16(), 4).AsByte()).Store(yb + 2);
            }
    }

    /// <summary>min(15, (int8)(x id + 8.5)): x id + 8.5 lies in [0.5, 16.5], where C's truncation is vcvttps2dq's.</summary>
    private static Vector256<int> Quant(Vector256<float> v, Vector256<float> scale) =>
        Vector256.Min(Vector256.ConvertToInt32(v * scale + Vector256.Create(8.5f)), Vector256.Create(15));

    /// <summary>ggml's quantize_row_q4_0_ref, one element at a time: the reference <see cref="QuantizeRow"/> is tested against.</summary>
    public static void QuantizeRowReference(ReadOnlySpan<float> x, Span<byte> dst)
    {
        int blocks = CheckRow(x, dst);
        for (int b = 0; b < blocks; b++)
        {
            ReadOnlySpan<float> xb = x.Slice(b * BlockSize, BlockSize);
            Span<byte> yb = dst.Slice(b * BlockBytes, BlockBytes);
            float amax = 0f, max = 0f;
            for (int j = 0; j < BlockSize; j++)
                if (amax < MathF.Abs(xb[j])) { amax = MathF.Abs(xb[j]); max = xb[j]; }
            float d = max / -8f;
            float id = d != 0f ? 1f / d : 0f;
            BlockQ8_0.WriteScale(yb, d);
            for (int j = 0; j < BlockSize / 2; j++)
            {
                // x*id lies in [-8, 8], so x*id + 8.5 >= 0.5 and the C (int8) truncation is a floor
                int q0 = Math.Min(15, (int)(sbyte)(xb[j] * id + 8.5f));
                int q1 = Math.Min(15, (int)(sbyte)(xb[j + BlockSize / 2] * id + 8.5f));
                yb[2 + j] = (byte)(q0 | q1 << 4);
            }
        }
    }

    private static int CheckRow(ReadOnlySpan<float> x, Span<byte> dst)
    {
        if (x.Length % BlockSize != 0) throw new ArgumentException($"q4_0 needs a multiple of {BlockSize} elements, got {x.Length}", nameof(x));
        int blocks = x.Length / BlockSize;
        if (dst.Length < blocks * BlockBytes) throw new ArgumentException("q4_0 destination too short", nameof(dst));
        return blocks;
    }

    /// <summary>Widens q4_0 blocks back to float32: y = (q - 8) * d.</summary>
    public static void DequantizeRow(ReadOnlySpan<byte> src, Span<float> y)
    {
        int blocks = y.Length / BlockSize;
        for (int b = 0; b < blocks; b++)
        {
            ReadOnlySpan<byte> xb = src.Slice(b * BlockBytes, BlockBytes);
            float d = BlockQ8_0.ReadScale(xb);
            for (int j = 0; j < BlockSize / 2; j++)
            {
                y[b * BlockSize + j] = ((xb[2 + j] & 0x0F) - 8) * d;
                y[b * BlockSize + j + BlockSize / 2] = ((xb[2 + j] >> 4) - 8) * d;
            }
        }
    }
}
