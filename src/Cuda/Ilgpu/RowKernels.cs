using ILGPU;

namespace LongLM.Kernels.Ilgpu;

/// <summary>
/// Mixture-of-experts row moves: gather the token rows routed to one expert, and add its weighted outputs back.
/// Grid-stride loops over rows * dim elements, so a warp touches 32 consecutive floats of one row (coalesced).
/// Row indices were range-checked (and, for the scatter, checked distinct) on the host.
/// </summary>
public static class RowKernels
{
    /// <summary>dst[r, c] = x[rows[r], c] for r &lt; count.</summary>
    [KernelEntry(ExplicitlyGrouped = true)]
    public static void Gather(ArrayView<float> x, ArrayView<int> rows, ArrayView<float> destination, int count, int dim)
    {
        int total = count * dim;
        for (int i = Grid.GlobalIndex.X; i < total; i += Grid.DimX * Group.DimX)
        {
            int r = i / dim, c = i - r * dim;
            destination[i] = x[(long)rows[r] * dim + c];
        }
    }

    /// <summary>dst[rows[r], c] += scales[r] * src[r, c] for r &lt; count; distinct rows, so no two threads add to one element.</summary>
    [KernelEntry(ExplicitlyGrouped = true)]
    public static void ScatterAdd(ArrayView<float> source, ArrayView<int> rows, ArrayView<float> scales, ArrayView<float> destination, int count, int dim)
    {
        int total = count * dim;
        for (int i = Grid.GlobalIndex.X; i < total; i += Grid.DimX * Group.DimX)
        {
            int r = i / dim, c = i - r * dim;
            long at = (long)rows[r] * dim + c;
            float product = scales[r] * source[i];
            destination[at] = destination[at] + product;
        }
    }
}
