using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LongLM.Kernels.Quant;

/// <summary>
/// Block dot products of a quantized weight row with a q8_0-quantized activation row, as ggml's
/// ggml_vec_dot_q8_0_q8_0 / ggml_vec_dot_q4_0_q8_0 define them: an exact int32 sum per block, scaled by d_w * d_x
/// and accumulated in float. Every path computes the same exact integer per block; only the float accumulation
/// order differs.
/// <para>
/// The activation row is prepared once (<see cref="QuantActivation"/>): its q8_0 blocks, its scales as float, and
/// for q4_0 a per-block int32 start value -8 sum_j x_j, so the q4_0 kernel multiplies the raw nibbles (0..15, the
/// unsigned operand VNNI wants) and the -8 offset comes out of the start value instead of a subtraction per weight.
/// </para>
/// <para>
/// Paths: AVX-VNNI (vpdpbusd: unsigned x signed bytes summed straight into int32 lanes), AVX2 (the sign trick: |a| as
/// unsigned bytes times sign(b, a), with vpmaddubsw then vpmaddwd by ones), else the scalar loop.
/// </para>
/// </summary>
public static unsafe class QuantDot
{
    /// <summary>Float bytes of scratch <see cref="QuantActivation.Prepare"/> needs for a row of <paramref name="cols"/> (a multiple of 32).</summary>
    public static int ScratchFloats(int cols) => QuantActivation.Floats(cols / BlockQ8_0.BlockSize);

    /// <summary>sum over blocks of d_w d_x sum_j w_j x_j for a q8_0 weight row.</summary>
    public static float DotQ8_0(byte* w, in QuantActivation x)
    {
        if (AvxVnni.IsSupported) return DotQ8_0Vnni(w, x);
        if (Avx2.IsSupported) return DotQ8_0Avx2(w, x);
        return DotQ8_0Scalar(w, x);
    }

    /// <summary>q4_0 weight row times the q8_0 activation row.</summary>
    public static float DotQ4_0(byte* w, in QuantActivation x)
    {
        if (AvxVnni.IsSupported) return DotQ4_0Vnni(w, x);
        if (Avx2.IsSupported) return DotQ4_0Avx2(w, x);
        return DotQ4_0Scalar(w, x);
    }

    internal static float DotQ8_0Scalar(byte* w, in QuantActivation x)
    {
        float sum = 0f;
        byte* xb = x.Blocks;
        for (int b = 0; b < x.BlockCount; b++, w += BlockQ8_0.BlockBytes, xb += BlockQ8_0.BlockBytes)
        {
            int isum = 0;
            for (int j = 0; j < 32; j++) isum += (sbyte)w[2 + j] * (sbyte)xb[2 + j];
            sum += Scale(w) * x.Scales[b] * isum;
        }
        return sum;
    }

    internal static float DotQ4_0Scalar(byte* w, in QuantActivation x)
    {
        float sum = 0f;
        byte* xb = x.Blocks;
        for (int b = 0; b < x.BlockCount; b++, w += BlockQ4_0.BlockBytes, xb += BlockQ8_0.BlockBytes)
        {
            int isum = 0;
            for (int j = 0; j < 16; j++)
            {
                isum += ((w[2 + j] & 0x0F) - 8) * (sbyte)xb[2 + j];
                isum += ((w[2 + j] >> 4) - 8) * (sbyte)xb[2 + j + 16];
            }
            sum += Scale(w) * x.Scales[b] * isum;
        }
        return sum;
    }

    /// <summary>Blocks per pass of the VNNI kernels: their products d_w d_x are widened into a stack buffer of this many floats first.</summary>
    private const int ScaleChunk = 64;

    internal static float DotQ8_0Vnni(byte* w, in QuantActivation x) => DotVnni<Q8Block>(w, x);

    internal static float DotQ4_0Vnni(byte* w, in QuantActivation x) => DotVnni<Q4Block>(w, x);

    /// <summary>A weight format's block for <see cref="DotVnni{TBlock}"/>: its size and its eight int32 partial sums against an activation block.</summary>
    private interface IVnniBlock
    {
        static abstract int Bytes { get; }
        static abstract Vector256<int> Sum(byte* w, byte* x, int* start);
    }

    /// <summary>q8_0: vpdpbusd takes unsigned x signed bytes, so |w| times x with w's sign moved onto it (the start value is not used).</summary>
    private readonly struct Q8Block : IVnniBlock
    {
        public static int Bytes => BlockQ8_0.BlockBytes;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Sum(byte* w, byte* x, int* start)
        {
            Vector256<sbyte> qw = Vector256.Load((sbyte*)(w + 2));
            return AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, Avx2.Abs(qw), Avx2.Sign(Vector256.Load((sbyte*)(x + 2)), qw));
        }
    }

    /// <summary>
    /// q4_0: sum_j (n_j - 8) x_j = sum_j n_j x_j - 8 sum_j x_j, the nibbles n_j (0..15) as vpdpbusd's unsigned operand
    /// and the second term as the block's start value (lane 0).
    /// </summary>
    private readonly struct Q4Block : IVnniBlock
    {
        public static int Bytes => BlockQ4_0.BlockBytes;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Sum(byte* w, byte* x, int* start) =>
            AvxVnni.MultiplyWideningAndAdd(Vector256.Load(start), Nibbles(w, Vector256.Create((byte)0x0F)), Vector256.Load((sbyte*)(x + 2)));
    }

    /// <summary>
    /// The VNNI dot for either format (specialised per struct, so the block sum is inlined): the products d_w d_x of a
    /// chunk of blocks widened first (<see cref="WidenScales"/>), then two accumulators over even and odd blocks, since
    /// one FMA chain per block would wait on the FMA latency, not on the loads.
    /// </summary>
    [SkipLocalsInit] // ws is written (WidenScales) before it is read
    private static float DotVnni<TBlock>(byte* w, in QuantActivation x) where TBlock : struct, IVnniBlock
    {
        float* ws = stackalloc float[ScaleChunk];
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero;
        byte* xb = x.Blocks;
        int* starts = x.Q4Starts;
        for (int c = 0; c < x.BlockCount; c += ScaleChunk)
        {
            int m = Math.Min(ScaleChunk, x.BlockCount - c);
            WidenScales(w, TBlock.Bytes, x.Scales + c, ws, m);
            int b = 0;
            for (; b + 1 < m; b += 2, w += 2 * TBlock.Bytes, xb += 2 * BlockQ8_0.BlockBytes, starts += 16)
            {
                acc0 = Fma.MultiplyAdd(Vector256.Create(ws[b]), Avx.ConvertToVector256Single(TBlock.Sum(w, xb, starts)), acc0);
                acc1 = Fma.MultiplyAdd(Vector256.Create(ws[b + 1]),
                    Avx.ConvertToVector256Single(TBlock.Sum(w + TBlock.Bytes, xb + BlockQ8_0.BlockBytes, starts + 8)), acc1);
            }
            if (b < m)
            {
                acc0 = Fma.MultiplyAdd(Vector256.Create(ws[b]), Avx.ConvertToVector256Single(TBlock.Sum(w, xb, starts)), acc0);
                w += TBlock.Bytes;
                xb += BlockQ8_0.BlockBytes;
                starts += 8;
            }
        }
        return Vector256.Sum(acc0 + acc1);
    }

    /// <summary>
    /// dst[b] = d_w(b) d_x(b) for <paramref name="m"/> (at most <see cref="ScaleChunk"/>) weight blocks <paramref name="stride"/>
    /// bytes apart: the fp16 bits are gathered with scalar loads, then widened eight at a time (<see cref="HalfBitsToSingle"/>'s
    /// rule in vector form), which costs about a third of widening each block's scale inside the dot loop.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WidenScales(byte* w, int stride, float* xScales, float* dst, int m)
    {
        uint* bits = (uint*)dst;
        for (int b = 0; b < m; b++) bits[b] = *(ushort*)(w + b * stride);
        int b8 = 0;
        for (; b8 + 8 <= m; b8 += 8)
        {
            Vector256<uint> h = Vector256.Load(bits + b8);
            Vector256<uint> f = Vector256.ShiftLeft(h & Vector256.Create(0x8000u), 16) | Vector256.ShiftLeft(h & Vector256.Create(0x7FFFu), 13);
            (f.AsSingle() * Vector256.Create(TwoPow112) * Vector256.Load(xScales + b8)).Store(dst + b8);
        }
        for (; b8 < m; b8++) dst[b8] = HalfBitsToSingle((ushort)bits[b8]) * xScales[b8];
    }

    internal static float DotQ8_0Avx2(byte* w, in QuantActivation x)
    {
        Vector256<float> acc = Vector256<float>.Zero;
        byte* xb = x.Blocks;
        float* scales = x.Scales;
        for (int b = 0; b < x.BlockCount; b++, w += BlockQ8_0.BlockBytes, xb += BlockQ8_0.BlockBytes)
        {
            Vector256<sbyte> qw = Vector256.Load((sbyte*)(w + 2)), qx = Vector256.Load((sbyte*)(xb + 2));
            acc = Fma.MultiplyAdd(Vector256.Create(Scale(w) * scales[b]), Avx.ConvertToVector256Single(BytePairSums(qw, qx)), acc);
        }
        return Vector256.Sum(acc);
    }

    internal static float DotQ4_0Avx2(byte* w, in QuantActivation x)
    {
        Vector256<float> acc = Vector256<float>.Zero;
        Vector256<byte> low = Vector256.Create((byte)0x0F), eight = Vector256.Create((byte)8);
        byte* xb = x.Blocks;
        float* scales = x.Scales;
        for (int b = 0; b < x.BlockCount; b++, w += BlockQ4_0.BlockBytes, xb += BlockQ8_0.BlockBytes)
        {
            Vector256<sbyte> qw = Avx2.Subtract(Nibbles(w, low), eight).AsSByte();
            Vector256<sbyte> qx = Vector256.Load((sbyte*)(xb + 2));
            acc = Fma.MultiplyAdd(Vector256.Create(Scale(w) * scales[b]), Avx.ConvertToVector256Single(BytePairSums(qw, qx)), acc);
        }
        return Vector256.Sum(acc);
    }

    /// <summary>A q4_0 block's 32 nibbles as bytes 0..15 (low nibbles, elements 0..15) and 16..31 (high nibbles, elements 16..31).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Nibbles(byte* block, Vector256<byte> low)
    {
        Vector128<byte> packed = Vector128.Load(block + 2);
        return Vector256.Create(packed, Vector128.ShiftRightLogical(packed.AsUInt16(), 4).AsByte()) & low;
    }

    /// <summary>Eight int32 partial sums of a[j] * b[j] over 32 signed bytes (exact for quants within +-127).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
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

    /// <summary>2^112 (float bits 0x77800000), exactly.</summary>
    private const float TwoPow112 = 5.192296858534828e33f;

    /// <summary>A block's fp16 scale as float (<see cref="HalfBitsToSingle"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Scale(byte* block) => HalfBitsToSingle(*(ushort*)block);

    /// <summary>
    /// fp16 bits to float, exact for every finite half, normal or subnormal, without branches: the 15 magnitude bits
    /// moved up 13 places form a float equal to the half's value times 2^-112 (a half exponent e becomes the float
    /// exponent e, bias 15 against 127), so one multiply by 2^112 restores it, and subnormal halves land on the
    /// matching float subnormals, which the multiply normalises exactly. The sign bit moves separately. Infinities and
    /// NaN come out as large finite values; the quantizers only write finite scales (<see cref="BlockQ8_0"/>).
    /// .NET's (float)Half handles those cases with branches and costs about 20 instructions a call here.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float HalfBitsToSingle(ushort bits)
    {
        uint h = bits;
        return BitConverter.UInt32BitsToSingle(((h & 0x8000u) << 16) | ((h & 0x7FFFu) << 13)) * TwoPow112;
    }
}

/// <summary>
/// An activation row prepared for the block dot products: its q8_0 blocks, their scales as float, and q4_0's
/// per-block start values (8 int32 lanes per block: -8 sum_j x_j in lane 0, zeros after). Pointers into scratch
/// the caller owns; <see cref="Prepare"/> fills it.
/// </summary>
public readonly unsafe struct QuantActivation
{
    /// <summary>The q8_0 blocks (34 bytes each).</summary>
    public readonly byte* Blocks;
    /// <summary>Each block's scale, widened.</summary>
    public readonly float* Scales;
    /// <summary>q4_0 start values: 8 int32 per block.</summary>
    public readonly int* Q4Starts;
    /// <summary>Blocks in the row.</summary>
    public readonly int BlockCount;

    private QuantActivation(byte* blocks, float* scales, int* q4Starts, int blockCount)
    {
        Blocks = blocks;
        Scales = scales;
        Q4Starts = q4Starts;
        BlockCount = blockCount;
    }

    /// <summary>Floats of scratch for <paramref name="blocks"/> blocks: the start values, the scales, then the q8_0 bytes.</summary>
    internal static int Floats(int blocks) => 8 * blocks + blocks + (blocks * BlockQ8_0.BlockBytes + 3) / 4;

    /// <summary>The row <see cref="Prepare"/> left in <paramref name="scratch"/> for <paramref name="blocks"/> blocks, without quantizing again.</summary>
    public static QuantActivation View(float* scratch, int blocks)
    {
        float* scales = scratch + 8 * blocks;
        return new QuantActivation((byte*)(scales + blocks), scales, (int*)scratch, blocks);
    }

    /// <summary>Quantizes <paramref name="x"/> (a multiple of 32 long) into <paramref name="scratch"/> (<see cref="QuantDot.ScratchFloats"/>), which must stay pinned while the result is used.</summary>
    public static QuantActivation Prepare(ReadOnlySpan<float> x, float* scratch, int scratchFloats)
    {
        int blocks = x.Length / BlockQ8_0.BlockSize;
        if (scratchFloats < Floats(blocks)) throw new ArgumentException("quantized activation scratch too short", nameof(scratchFloats));
        var view = View(scratch, blocks);
        int* starts = view.Q4Starts;
        float* scales = view.Scales;
        byte* bytes = view.Blocks;
        var q = new Span<byte>(bytes, blocks * BlockQ8_0.BlockBytes);
        BlockQ8_0.QuantizeRow(x, q);
        for (int b = 0; b < blocks; b++)
        {
            byte* block = bytes + b * BlockQ8_0.BlockBytes;
            scales[b] = QuantDot.Scale(block);
            int sum = 0;
            for (int j = 0; j < BlockQ8_0.BlockSize; j++) sum += (sbyte)block[2 + j];
            int* s = starts + 8 * b;
            s[0] = -8 * sum;
            for (int lane = 1; lane < 8; lane++) s[lane] = 0;
        }
        return view;
    }
}
