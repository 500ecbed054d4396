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

    /// <summary>Quantizes <paramref name="x"/> (length a multiple of 32) into <paramref name="dst"/> (x.Length / 32 * 18 bytes).</summary>
    public static void QuantizeRow(ReadOnlySpan<float> x, Span<byte> dst)
    {
        if (x.Length % BlockSize != 0) throw new ArgumentException($"q4_0 needs a multiple of {BlockSize} elements, got {x.Length}", nameof(x));
        int blocks = x.Length / BlockSize;
        if (dst.Length < blocks * BlockBytes) throw new ArgumentException("q4_0 destination too short", nameof(dst));
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
