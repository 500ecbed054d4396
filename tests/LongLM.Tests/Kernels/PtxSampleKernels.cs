using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Algorithms.ScanReduceOperations;
using ILGPU.Runtime;
using LongLM.Kernels.Ilgpu;

namespace LongLM.Tests.Kernels;

/// <summary>
/// Small kernels that exercise the PTX check (PtxCompiler, tools/LongLM.PtxCheck) independently of the real kernels in
/// LongLM.Kernels: one per shape the real ones take (implicitly grouped, generic over a struct operation, explicitly
/// grouped with shared memory and barriers, ILGPU.Algorithms warp reductions). They are never launched.
/// </summary>
public static class PtxSampleKernels
{
    public const int GroupSize = 256;

    /// <summary>Implicitly grouped: y = exp(x * scale) from FP16 input (Half conversions, a transcendental).</summary>
    [KernelEntry]
    public static void ScaleExp(Index1D i, ArrayView<ILGPU.Half> x, ArrayView<float> y, float scale) =>
        y[i] = MathF.Exp((float)x[i] * scale);

    /// <summary>Generic over a struct operation, one [KernelEntry] per instantiation.</summary>
    [KernelEntry(typeof(SiluOp))]
    [KernelEntry(typeof(ReluOp))]
    public static void Map<TOp>(Index1D i, ArrayView<float> x, ArrayView<float> y)
        where TOp : struct, IUnaryOp =>
        y[i] = default(TOp).Apply(x[i]);

    /// <summary>Explicitly grouped: one group sums one row through shared memory and barriers.</summary>
    [KernelEntry(ExplicitlyGrouped = true)]
    public static void RowSum(ArrayView2D<float, Stride2D.DenseX> x, ArrayView<float> sums)
    {
        var partial = SharedMemory.Allocate<float>(GroupSize);
        int row = Grid.IdxX, tid = Group.IdxX;
        float acc = 0f;
        for (int c = tid; c < x.IntExtent.X; c += Group.DimX)
            acc += x[c, row];
        partial[tid] = acc;
        Group.Barrier();
        for (int half = GroupSize / 2; half > 0; half /= 2)
        {
            if (tid < half)
                partial[tid] += partial[tid + half];
            Group.Barrier();
        }
        if (tid == 0)
            sums[row] = partial[0];
    }

    /// <summary>Explicitly grouped with dynamic shared memory (sized at launch): reverses each group's slice.</summary>
    [KernelEntry(ExplicitlyGrouped = true)]
    public static void ReverseInGroup(ArrayView<float> x)
    {
        var tile = SharedMemory.GetDynamic<float>();
        int tid = Group.IdxX, global = Grid.GlobalIndex.X;
        tile[tid] = x[global];
        Group.Barrier();
        x[global] = tile[Group.DimX - 1 - tid];
    }

    /// <summary>ILGPU.Algorithms warp reduction: one warp per row, max then sum of exp (a softmax denominator).</summary>
    [KernelEntry(ExplicitlyGrouped = true)]
    public static void WarpSoftmaxDenominator(ArrayView<float> x, ArrayView<float> denominators, int columns)
    {
        int row = Grid.GlobalIndex.X / Warp.WarpSize;
        if (row >= denominators.IntLength)
            return;
        long start = (long)row * columns;
        float max = float.NegativeInfinity;
        for (int c = Warp.LaneIdx; c < columns; c += Warp.WarpSize)
            max = XMath.Max(max, x[start + c]);
        max = WarpExtensions.AllReduce<float, MaxFloat>(max);
        float sum = 0f;
        for (int c = Warp.LaneIdx; c < columns; c += Warp.WarpSize)
            sum += XMath.Exp(x[start + c] - max);
        sum = WarpExtensions.Reduce<float, AddFloat>(sum);
        if (Warp.IsFirstLane)
            denominators[row] = sum;
    }
}

/// <summary>Elementwise operation for the generic sample kernel.</summary>
public interface IUnaryOp
{
    float Apply(float x);
}

public readonly struct SiluOp : IUnaryOp
{
    public float Apply(float x) => x / (1f + XMath.Exp(-x));
}

public readonly struct ReluOp : IUnaryOp
{
    public float Apply(float x) => XMath.Max(x, 0f);
}

/// <summary>Not a [KernelEntry]: a kernel ILGPU cannot compile (a call into the runtime with no device equivalent).</summary>
public static class PtxBrokenKernels
{
    public static void CallsGarbageCollector(Index1D i, ArrayView<int> y) => y[i] = GC.MaxGeneration + GC.CollectionCount(0);
}
