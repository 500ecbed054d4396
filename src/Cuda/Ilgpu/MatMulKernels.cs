using ILGPU;

namespace LongLM.Kernels.Ilgpu;

/// <summary>Shape of y [Rows, OutDim] = x [Rows, InDim] . w [OutDim, InDim]^T (+ bias [OutDim]).</summary>
public struct MatMulShape
{
    /// <summary>Rows of x and y.</summary>
    public int Rows;
    /// <summary>Input features (columns of w).</summary>
    public int InDim;
    /// <summary>Output features (rows of w).</summary>
    public int OutDim;
    /// <summary>Non-zero when bias holds OutDim floats to add.</summary>
    public int HasBias;
}

/// <summary>Four float32 accumulators kept in registers (one row of a GEMM thread's micro-tile).</summary>
public struct Float4
{
    /// <summary>Elements 0..3.</summary>
    public float X, Y, Z, W;

    /// <summary>this + a * b, elementwise.</summary>
    public readonly Float4 MulAdd(float a, Float4 b) =>
        new() { X = X + a * b.X, Y = Y + a * b.Y, Z = Z + a * b.Z, W = W + a * b.W };

    /// <summary>Element j (0..3).</summary>
    public readonly float Get(int j) => j == 0 ? X : j == 1 ? Y : j == 2 ? Z : W;
}

/// <summary>
/// y[r, o] = x[r, :] . w[o, :] + bias[o] with w in the nn.Linear [out, in] layout, stored as F32, F16 or BF16
/// packs (<see cref="IWeightPack"/>) and widened in registers, so weight bytes cross the bus exactly once.
/// </summary>
public static class MatMulKernels
{
    /// <summary>Output rows one warp computes together in <see cref="Gemv{TPack}"/>.</summary>
    public const int RowsPerWarp = 4;

    /// <summary>Threads of one <see cref="Gemm{TPack}"/> group (16 x 8 threads, 4 x 4 outputs each).</summary>
    public const int GemmGroupSize = 128;

    private const int Lanes = 32;
    private const int PaddedLanes = Lanes + 1;
    private const int MaxWarps = GroupReduce.MaxGroupSize / Lanes;
    private const int TileRows = 32, TileOutputs = 64, TileK = 16;

    /// <summary>
    /// Decode GEMV (one row of x). v1: one warp per <see cref="RowsPerWarp"/> output rows, grid-stride over row
    /// blocks. Lanes stride each weight row one pack at a time, so a warp load covers 32 consecutive packs
    /// (256 contiguous bytes for bf16x4) per row, and each x pack is loaded once for four rows. The four per-lane
    /// partials go to shared memory (padded against bank conflicts), one warp barrier, and lanes 0..3 each sum one
    /// row: one barrier per four rows instead of five shuffles per row (each shuffle is two barriers on ILGPU's
    /// CPU accelerator). The partial buffer alternates between two halves, so no second barrier guards its reuse.
    /// </summary>
    [KernelEntry(typeof(F32x1), ExplicitlyGrouped = true)]
    [KernelEntry(typeof(F32x4), ExplicitlyGrouped = true)]
    [KernelEntry(typeof(F16x1), ExplicitlyGrouped = true)]
    [KernelEntry(typeof(F16x4), ExplicitlyGrouped = true)]
    [KernelEntry(typeof(Bf16x1), ExplicitlyGrouped = true)]
    [KernelEntry(typeof(Bf16x4), ExplicitlyGrouped = true)]
    public static void Gemv<TPack>(ArrayView<TPack> weight, ArrayView<float> x, ArrayView<float> bias, ArrayView<float> y, MatMulShape shape)
        where TPack : unmanaged, IWeightPack
    {
        var partials = SharedMemory.Allocate<float>(PartialsLength);
        int width = default(TPack).Width, packsPerRow = shape.InDim / width;
        int lane = Warp.LaneIdx, warp = Warp.WarpIdx, warpsPerGroup = Group.DimX / Lanes;
        int blocks = (shape.OutDim + RowsPerWarp - 1) / RowsPerWarp, last = shape.OutDim - 1;
        int parity = 0;
        for (int block = Grid.IdxX * warpsPerGroup + warp; block < blocks; block += Grid.DimX * warpsPerGroup)
        {
            int o = block * RowsPerWarp;
            // Rows past the end re-read the last row (in bounds) and are never stored.
            long w0 = (long)o * packsPerRow;
            long w1 = (long)IntrinsicMath.Min(o + 1, last) * packsPerRow;
            long w2 = (long)IntrinsicMath.Min(o + 2, last) * packsPerRow;
            long w3 = (long)IntrinsicMath.Min(o + 3, last) * packsPerRow;
            float a0 = 0f, a1 = 0f, a2 = 0f, a3 = 0f;
            for (int p = lane; p < packsPerRow; p += Lanes)
            {
                TPack p0 = weight[w0 + p], p1 = weight[w1 + p], p2 = weight[w2 + p], p3 = weight[w3 + p];
                int xi = p * width;
                for (int k = 0; k < width; k++)
                {
                    float xv = x[xi + k];
                    a0 += p0.Get(k) * xv;
                    a1 += p1.Get(k) * xv;
                    a2 += p2.Get(k) * xv;
                    a3 += p3.Get(k) * xv;
                }
            }
            SumFourRows(partials, parity, warp, lane, a0, a1, a2, a3, bias, y, 0, o, shape);
            parity ^= 1;
        }
    }

    /// <summary>Shared floats of the four-row GEMV reductions: [parity][warp][row][lane], rows padded to 33 so the four summing lanes hit distinct banks.</summary>
    internal const int PartialsLength = 2 * MaxWarps * RowsPerWarp * PaddedLanes;

    /// <summary>
    /// The end of a four-row GEMV step (<see cref="Gemv{TPack}"/>, <see cref="QuantKernels.MatMul{TFormat}"/>): each
    /// lane's partials a0..a3 of outputs o..o+3 go to shared memory, one warp barrier, then lanes 0..3 each sum one
    /// output's 32 partials, add its bias and store y[rowOffset + o + lane]. The caller flips <paramref name="parity"/>
    /// after each step, so the buffer's two halves alternate and no second barrier guards its reuse.
    /// </summary>
    internal static void SumFourRows(ArrayView<float> partials, int parity, int warp, int lane, float a0, float a1, float a2, float a3,
        ArrayView<float> bias, ArrayView<float> y, long rowOffset, int o, MatMulShape shape)
    {
        int slot = (parity * MaxWarps + warp) * RowsPerWarp * PaddedLanes;
        partials[slot + lane] = a0;
        partials[slot + PaddedLanes + lane] = a1;
        partials[slot + 2 * PaddedLanes + lane] = a2;
        partials[slot + 3 * PaddedLanes + lane] = a3;
        Warp.Barrier();
        if (lane < RowsPerWarp && o + lane < shape.OutDim)
        {
            int row = slot + lane * PaddedLanes;
            float sum = 0f;
            for (int i = 0; i < Lanes; i++) sum += partials[row + i];
            if (shape.HasBias != 0) sum += bias[o + lane];
            y[rowOffset + o + lane] = sum;
        }
    }

    /// <summary>
    /// Prefill GEMM (Rows &gt; 1). v1: classic shared-memory tiling, 32 rows x 64 outputs per group and K in steps
    /// of 16; grid-stride over tiles. Tiles are loaded coalesced (x along K, w in packs along K), stored
    /// transposed with one float of padding, and each of the 128 threads keeps a 4 x 4 register micro-tile
    /// (rows ty + 8i, outputs tx + 16j) so a warp's shared reads are broadcasts or distinct banks.
    /// Two barriers per K step. Launch with exactly <see cref="GemmGroupSize"/> threads per group.
    /// </summary>
    [KernelEntry(typeof(F32x1), ExplicitlyGrouped = true)]
    [KernelEntry(typeof(F32x4), ExplicitlyGrouped = true)]
    [KernelEntry(typeof(F16x1), ExplicitlyGrouped = true)]
    [KernelEntry(typeof(F16x4), ExplicitlyGrouped = true)]
    [KernelEntry(typeof(Bf16x1), ExplicitlyGrouped = true)]
    [KernelEntry(typeof(Bf16x4), ExplicitlyGrouped = true)]
    public static void Gemm<TPack>(ArrayView<TPack> weight, ArrayView<float> x, ArrayView<float> bias, ArrayView<float> y, MatMulShape shape)
        where TPack : unmanaged, IWeightPack
    {
        var xs = SharedMemory.Allocate<float>(TileK * (TileRows + 1));    // [k][row]
        var ws = SharedMemory.Allocate<float>(TileK * (TileOutputs + 1)); // [k][output]
        int t = Group.IdxX, tx = t % 16, ty = t / 16;
        int width = default(TPack).Width;
        int rowTiles = (shape.Rows + TileRows - 1) / TileRows, colTiles = (shape.OutDim + TileOutputs - 1) / TileOutputs;
        for (int tile = Grid.IdxX; tile < rowTiles * colTiles; tile += Grid.DimX)
        {
            int row0 = tile / colTiles * TileRows, col0 = tile % colTiles * TileOutputs;
            Float4 c0 = default, c1 = default, c2 = default, c3 = default;
            for (int k0 = 0; k0 < shape.InDim; k0 += TileK)
            {
                for (int e = t; e < TileRows * TileK; e += GemmGroupSize)
                {
                    int m = e / TileK, k = e % TileK, row = row0 + m, col = k0 + k;
                    xs[k * (TileRows + 1) + m] = row < shape.Rows && col < shape.InDim ? x[(long)row * shape.InDim + col] : 0f;
                }
                // InDim is a multiple of the pack width, and so is k, so a pack is wholly inside or outside.
                for (int e = t * width; e < TileOutputs * TileK; e += GemmGroupSize * width)
                {
                    int n = e / TileK, k = e % TileK, output = col0 + n, col = k0 + k;
                    bool inside = output < shape.OutDim && col < shape.InDim;
                    TPack pack = inside ? weight[((long)output * shape.InDim + col) / width] : default;
                    for (int kk = 0; kk < width; kk++) ws[(k + kk) * (TileOutputs + 1) + n] = inside ? pack.Get(kk) : 0f;
                }
                Group.Barrier();
                for (int k = 0; k < TileK; k++)
                {
                    int xb = k * (TileRows + 1) + ty, wb = k * (TileOutputs + 1) + tx;
                    var b = new Float4 { X = ws[wb], Y = ws[wb + 16], Z = ws[wb + 32], W = ws[wb + 48] };
                    c0 = c0.MulAdd(xs[xb], b);
                    c1 = c1.MulAdd(xs[xb + 8], b);
                    c2 = c2.MulAdd(xs[xb + 16], b);
                    c3 = c3.MulAdd(xs[xb + 24], b);
                }
                Group.Barrier();
            }
            for (int i = 0; i < 4; i++)
            {
                int row = row0 + ty + 8 * i;
                if (row >= shape.Rows) break;
                Float4 c = i == 0 ? c0 : i == 1 ? c1 : i == 2 ? c2 : c3;
                for (int j = 0; j < 4; j++)
                {
                    int output = col0 + tx + 16 * j;
                    if (output < shape.OutDim)
                        y[(long)row * shape.OutDim + output] = c.Get(j) + (shape.HasBias != 0 ? bias[output] : 0f);
                }
            }
        }
    }
}
