using ILGPU;

namespace LongLM.Kernels.Ilgpu;

/// <summary>Token embedding gather.</summary>
public static class EmbeddingKernels
{
    /// <summary>
    /// dst[r, c] = widen(table[ids[r], c]) for all rows in one launch: a grid-stride loop over the rows * cols
    /// outputs, so a warp reads 32 consecutive elements of one table row (coalesced). Ids were range-checked on the host.
    /// </summary>
    [KernelEntry(typeof(F32x1), ExplicitlyGrouped = true)]
    [KernelEntry(typeof(F16x1), ExplicitlyGrouped = true)]
    [KernelEntry(typeof(Bf16x1), ExplicitlyGrouped = true)]
    public static void Gather<TPack>(ArrayView<TPack> table, ArrayView<int> ids, ArrayView<float> destination, int rows, int cols)
        where TPack : unmanaged, IWeightPack
    {
        int total = rows * cols;
        for (int i = Grid.GlobalIndex.X; i < total; i += Grid.DimX * Group.DimX)
        {
            int r = i / cols, c = i - r * cols;
            destination[i] = table[(long)ids[r] * cols + c].Get(0);
        }
    }
}
