using ILGPU;

namespace LongLM.Kernels.Ilgpu;

/// <summary>16 bytes read with one access: 16 int8 quants, or the 32 nibbles of a q4_0 block.</summary>
public struct Quad
{
    /// <summary>Bytes 0..7 (byte k in bits [8k, 8k + 8)).</summary>
    public ulong Low;
    /// <summary>Bytes 8..15.</summary>
    public ulong High;
}

/// <summary>
/// A block-quantized weight format on the device. <see cref="IlgpuWeight"/> repacks ggml's blocks ({ fp16 d; quants })
/// into two arrays, the fp16 scales and the quants as <see cref="Quad"/>s, so every load is aligned: a 34- or 18-byte
/// block has no 4-byte alignment in ggml's layout.
/// </summary>
public interface IQuantFormat
{
    /// <summary>Quads per block of 32: 2 for q8_0, 1 for q4_0.</summary>
    int QuadsPerBlock { get; }

    /// <summary>The exact int32 sum over the block of q_w[j] q_x[j], with x's q8_0 quants in two quads (elements 0..15, 16..31).</summary>
    int Dot(ArrayView<Quad> weight, long block, Quad x0, Quad x1);

    /// <summary>Quant j (0..31) of <paramref name="block"/> as its signed integer (q4_0's nibble minus 8).</summary>
    int Element(ArrayView<Quad> weight, long block, int j);
}

/// <summary>ggml's q8_0: 32 int8 quants per block, in two quads.</summary>
public struct Q8_0Format : IQuantFormat
{
    /// <inheritdoc />
    public readonly int QuadsPerBlock => 2;

    /// <inheritdoc />
    public readonly int Dot(ArrayView<Quad> weight, long block, Quad x0, Quad x1)
    {
        Quad w0 = weight[2 * block], w1 = weight[2 * block + 1];
        return QuantKernels.Dot8(w0.Low, x0.Low) + QuantKernels.Dot8(w0.High, x0.High) +
               QuantKernels.Dot8(w1.Low, x1.Low) + QuantKernels.Dot8(w1.High, x1.High);
    }

    /// <inheritdoc />
    public readonly int Element(ArrayView<Quad> weight, long block, int j)
    {
        Quad q = weight[2 * block + j / 16];
        ulong word = (j & 8) == 0 ? q.Low : q.High;
        return (sbyte)(word >> (8 * (j & 7)));
    }
}

/// <summary>
/// ggml's q4_0: 16 bytes per block, byte j holding element j in its low nibble and element j + 16 in its high
/// nibble, each value nibble - 8. So the quad's low word pairs with x's elements 0..7 (low nibbles) and 16..23 (high
/// nibbles), its high word with 8..15 and 24..31.
/// </summary>
public struct Q4_0Format : IQuantFormat
{
    /// <inheritdoc />
    public readonly int QuadsPerBlock => 1;

    /// <inheritdoc />
    public readonly int Dot(ArrayView<Quad> weight, long block, Quad x0, Quad x1)
    {
        Quad w = weight[block];
        return QuantKernels.DotNibbles(w.Low, x0.Low, x1.Low) + QuantKernels.DotNibbles(w.High, x0.High, x1.High);
    }

    /// <inheritdoc />
    public readonly int Element(ArrayView<Quad> weight, long block, int j)
    {
        Quad q = weight[block];
        int k = j & 15;
        ulong word = (k & 8) == 0 ? q.Low : q.High;
        int b = (int)(word >> (8 * (k & 7))) & 0xFF;
        return (j < 16 ? b & 0x0F : b >> 4) - 8;
    }
}

/// <summary>
/// q8_0 / q4_0 matmul as ggml defines it (ggml_vec_dot_q8_0_q8_0 / ggml_vec_dot_q4_0_q8_0), the same arithmetic as the
/// CPU backend's <see cref="Quant.QuantDot"/>: the activation rows are quantized to q8_0 by ggml's rule
/// (<see cref="QuantizeRows"/>, the bytes of <see cref="Quant.BlockQ8_0.QuantizeRowReference"/>), each block's product
/// is an exact int32 sum, scaled by d_w d_x and accumulated in float. Only the float accumulation order differs from
/// the CPU's.
/// </summary>
public static class QuantKernels
{
    private const int Lanes = 32;

    /// <summary>Output features one warp computes together in <see cref="MatMul{TFormat}"/>.</summary>
    public const int RowsPerWarp = MatMulKernels.RowsPerWarp;

    /// <summary>
    /// ggml's quantize_row_q8_0_ref on every block of x ([blocks * 32] floats, rows laid end to end): d = max|x| / 127,
    /// q = roundf(x / d) through the float 1/d, the scale stored as fp16 and kept here widened (<see cref="HalfBitsToSingle"/>),
    /// the quants as two quads per block. One thread per block: the activation is small next to the weights.
    /// </summary>
    [KernelEntry(ExplicitlyGrouped = true)]
    public static void QuantizeRows(ArrayView<float> x, ArrayView<Quad> quants, ArrayView<float> scales, int blocks)
    {
        for (int i = Grid.GlobalIndex.X; i < blocks; i += Grid.DimX * Group.DimX)
        {
            long start = (long)i * 32;
            float amax = 0f;
            for (int j = 0; j < 32; j++) amax = IntrinsicMath.Max(amax, IntrinsicMath.Abs(x[start + j]));
            float d = amax / 127f;
            float id = d != 0f ? 1f / d : 0f; // ggml scales by the float d, not its fp16 rounding
            scales[i] = HalfBitsToSingle(SingleToHalfBits(d));
            for (int q = 0; q < 2; q++)
            {
                long at = start + 16 * q;
                quants[2L * i + q] = new Quad { Low = PackQuants(x, at, id), High = PackQuants(x, at + 8, id) };
            }
        }
    }

    /// <summary>Eight consecutive elements from <paramref name="at"/>, quantized with C's roundf(x id), as the bytes of a word.</summary>
    private static ulong PackQuants(ArrayView<float> x, long at, float id)
    {
        ulong word = 0;
        for (int k = 0; k < 8; k++) word |= (ulong)(byte)RoundHalfAway(x[at + k] * id) << (8 * k);
        return word;
    }

    /// <summary>
    /// y[r, o] = sum_b d_w(o, b) d_x(r, b) sum_j q_w q_x (+ bias[o]) for every row r of x. Work items are (row, four
    /// outputs), one warp each, grid-stride; lanes stride the row's blocks, so a warp reads 32 consecutive blocks of each
    /// of its four weight rows, and each x block once for the four. The per-lane partials meet as in the float GEMV
    /// (<see cref="MatMulKernels.SumFourRows"/>). Prefill rows re-read
    /// the weight once per row (from L2 on a GPU): the tiled float GEMM's reuse is not built for the quantized path yet.
    /// </summary>
    [KernelEntry(typeof(Q8_0Format), ExplicitlyGrouped = true)]
    [KernelEntry(typeof(Q4_0Format), ExplicitlyGrouped = true)]
    public static void MatMul<TFormat>(ArrayView<ushort> weightScales, ArrayView<Quad> weightQuants, ArrayView<float> xScales, ArrayView<Quad> xQuants,
        ArrayView<float> bias, ArrayView<float> y, MatMulShape shape)
        where TFormat : unmanaged, IQuantFormat
    {
        var partials = SharedMemory.Allocate<float>(MatMulKernels.PartialsLength);
        var format = default(TFormat);
        int lane = Warp.LaneIdx, warp = Warp.WarpIdx, warpsPerGroup = Group.DimX / Lanes;
        int blocksPerRow = shape.InDim / 32, outBlocks = (shape.OutDim + RowsPerWarp - 1) / RowsPerWarp, last = shape.OutDim - 1;
        long items = (long)shape.Rows * outBlocks;
        int parity = 0;
        for (long item = Grid.IdxX * warpsPerGroup + warp; item < items; item += Grid.DimX * warpsPerGroup)
        {
            int r = (int)(item / outBlocks), o = (int)(item - (long)r * outBlocks) * RowsPerWarp;
            // Outputs past the end re-read the last weight row (in bounds) and are never stored.
            long w0 = (long)o * blocksPerRow;
            long w1 = (long)IntrinsicMath.Min(o + 1, last) * blocksPerRow;
            long w2 = (long)IntrinsicMath.Min(o + 2, last) * blocksPerRow;
            long w3 = (long)IntrinsicMath.Min(o + 3, last) * blocksPerRow;
            long xRow = (long)r * blocksPerRow;
            float a0 = 0f, a1 = 0f, a2 = 0f, a3 = 0f;
            for (int b = lane; b < blocksPerRow; b += Lanes)
            {
                float dx = xScales[xRow + b];
                Quad x0 = xQuants[2 * (xRow + b)], x1 = xQuants[2 * (xRow + b) + 1];
                a0 += HalfBitsToSingle(weightScales[w0 + b]) * dx * format.Dot(weightQuants, w0 + b, x0, x1);
                a1 += HalfBitsToSingle(weightScales[w1 + b]) * dx * format.Dot(weightQuants, w1 + b, x0, x1);
                a2 += HalfBitsToSingle(weightScales[w2 + b]) * dx * format.Dot(weightQuants, w2 + b, x0, x1);
                a3 += HalfBitsToSingle(weightScales[w3 + b]) * dx * format.Dot(weightQuants, w3 + b, x0, x1);
            }
            MatMulKernels.SumFourRows(partials, parity, warp, lane, a0, a1, a2, a3, bias, y, (long)r * shape.OutDim, o, shape);
            parity ^= 1;
        }
    }

    /// <summary>
    /// dst[r, c] = q(table[ids[r]], c) d: the embedding rows of a quantized table (a tied head quantized with the output),
    /// widened as <see cref="ElementConvert"/> does on the host (one float multiply of the integer quant by the scale).
    /// </summary>
    [KernelEntry(typeof(Q8_0Format), ExplicitlyGrouped = true)]
    [KernelEntry(typeof(Q4_0Format), ExplicitlyGrouped = true)]
    public static void Gather<TFormat>(ArrayView<ushort> scales, ArrayView<Quad> quants, ArrayView<int> ids, ArrayView<float> destination, int rows, int cols)
        where TFormat : unmanaged, IQuantFormat
    {
        int total = rows * cols, blocksPerRow = cols / 32;
        for (int i = Grid.GlobalIndex.X; i < total; i += Grid.DimX * Group.DimX)
        {
            int r = i / cols, c = i - r * cols;
            long block = (long)ids[r] * blocksPerRow + c / 32;
            destination[i] = default(TFormat).Element(quants, block, c & 31) * HalfBitsToSingle(scales[block]);
        }
    }

    /// <summary>sum_k a_k b_k over the eight signed bytes of two words.</summary>
    public static int Dot8(ulong a, ulong b)
    {
        int sum = 0;
        for (int k = 0; k < 8; k++) sum += (sbyte)(a >> (8 * k)) * (sbyte)(b >> (8 * k));
        return sum;
    }

    /// <summary>sum_k (lo_k - 8) xl_k + (hi_k - 8) xh_k over the eight bytes of a q4_0 word (nibbles lo, hi) and two words of int8 x.</summary>
    public static int DotNibbles(ulong nibbles, ulong xLow, ulong xHigh)
    {
        int sum = 0;
        for (int k = 0; k < 8; k++)
        {
            int b = (int)(nibbles >> (8 * k)) & 0xFF;
            sum += ((b & 0x0F) - 8) * (sbyte)(xLow >> (8 * k)) + ((b >> 4) - 8) * (sbyte)(xHigh >> (8 * k));
        }
        return sum;
    }

    /// <summary>C's roundf (half away from zero) for |v| &lt; 2^31: truncate, then one step away from zero when the exact remainder is at least 1/2.</summary>
    public static int RoundHalfAway(float v)
    {
        int t = (int)v;
        float rest = v - t; // exact: t is v with its fraction bits cleared
        if (rest >= 0.5f) t++;
        else if (rest <= -0.5f) t--;
        return t;
    }

    /// <summary>
    /// fp16 bits to float, exact for every finite half (the rule of the CPU kernels' QuantDot.HalfBitsToSingle, restated
    /// because kernels cannot call the host's BitConverter): the 15 magnitude bits moved up 13 places are the value times
    /// 2^-112, one multiply restores it, the sign moves separately.
    /// </summary>
    public static float HalfBitsToSingle(ushort bits)
    {
        uint h = bits;
        return Interop.IntAsFloat(((h & 0x8000u) << 16) | ((h & 0x7FFFu) << 13)) * 5.192296858534828e33f; // 2^112
    }

    /// <summary>
    /// float to fp16 bits, round to nearest even, as .NET's (Half) conversion and PTX's cvt.rn.f16.f32: overflow to
    /// infinity from 65520 up, subnormal halves below 2^-14, NaN kept quiet. Written with integer operations (and one float
    /// add for subnormals, which rounds to nearest even like the conversion) so the CPU accelerator and the GPU agree.
    /// </summary>
    public static ushort SingleToHalfBits(float value)
    {
        uint f = Interop.FloatAsInt(value);
        uint sign = (f >> 16) & 0x8000u, a = f & 0x7FFFFFFFu;
        uint h;
        if (a >= 0x47800000u) // 2^16 and up, infinity, NaN
            h = a > 0x7F800000u ? 0x7E00u : 0x7C00u;
        else if (a < 0x38800000u) // below 2^-14: a half subnormal or zero; adding 1/2 aligns the mantissa to 2^-24 steps
            h = Interop.FloatAsInt(Interop.IntAsFloat(a) + 0.5f) - 0x3F000000u;
        else // a normal half: rebias the exponent, round the 13 dropped bits to nearest even (a carry may reach infinity)
            h = (a + 0xC8000FFFu + ((a >> 13) & 1u)) >> 13;
        return (ushort)(sign | h);
    }
}
