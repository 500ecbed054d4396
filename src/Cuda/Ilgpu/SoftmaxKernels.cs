using ILGPU;

namespace LongLM.Kernels.Ilgpu;

/// <summary>Row-wise log-softmax and the greedy arg-max over logits.</summary>
public static class SoftmaxKernels
{
    /// <summary>
    /// dst[r, :] = x[r, :] - max - log(sum(exp(x[r, :] - max))). One group per row (grid-stride over rows): each
    /// thread keeps an online (max, sum) over its strided elements, one <see cref="GroupReduce"/> merges them,
    /// and a second coalesced pass writes the result. The row is read twice, never the exp'ed values stored.
    /// </summary>
    [KernelEntry(ExplicitlyGrouped = true)]
    public static void LogSoftmax(ArrayView<float> x, ArrayView<float> destination, int rows, int cols)
    {
        var scratch = SharedMemory.Allocate<MaxSum>(GroupReduce.ScratchLength);
        for (int row = Grid.IdxX; row < rows; row += Grid.DimX)
        {
            long start = (long)row * cols;
            var partial = default(MaxSumOperation).Identity;
            for (int c = Group.IdxX; c < cols; c += Group.DimX) partial = partial.Add(x[start + c]);
            var total = GroupReduce.AllReduce<MaxSum, MaxSumOperation>(partial, scratch);
            float shift = total.Max + DeviceMath.Log(total.Sum);
            for (int c = Group.IdxX; c < cols; c += Group.DimX) destination[start + c] = x[start + c] - shift;
        }
    }

    /// <summary>
    /// result[0] = the index of the first maximum of x[0, count). Launched as a single group: a vocabulary row is
    /// a few hundred KiB, which one group streams in a few microseconds, and a second pass is not worth its launch.
    /// NaN entries are ignored; when every entry is NaN the result is int.MaxValue.
    /// </summary>
    [KernelEntry(ExplicitlyGrouped = true)]
    public static void ArgMax(ArrayView<float> x, ArrayView<int> result, int count)
    {
        var scratch = SharedMemory.Allocate<ValueIndex>(GroupReduce.ScratchLength);
        var op = default(ArgMaxOperation);
        var best = op.Identity;
        for (int i = Group.IdxX; i < count; i += Group.DimX)
            best = op.Combine(best, new ValueIndex { Value = x[i], Index = i });
        best = GroupReduce.AllReduce<ValueIndex, ArgMaxOperation>(best, scratch);
        if (Group.IdxX == 0) result[0] = best.Index;
    }
}
