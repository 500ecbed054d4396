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

    /// <summary>Quantizes <paramref name="x"/> (length a multiple of 32) into <paramref name="dst"/> (x.Length / 32 * 34 bytes).</summary>
    public static void QuantizeRow(ReadOnlySpan<float> x, Span<byte> dst)
    {
        if (x.Length % BlockSize != 0) throw new ArgumentException($"q8_0 needs a multiple of {BlockSize} elements, got {x.Length}", nameof(x));
        int blocks = x.Length / BlockSize;
        if (dst.Length < blocks * BlockBytes) throw new ArgumentException("q8_0 destination too short", nameof(dst));
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
