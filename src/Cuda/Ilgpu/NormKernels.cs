using ILGPU;

namespace LongLM.Kernels.Ilgpu;

/// <summary>RMSNorm (Zhang and Sennrich 2019) as HF Llama computes it, in float32.</summary>
public static class NormKernels
{
    /// <summary>
    /// dst[r, :] = x[r, :] / sqrt(mean(x[r, :]^2) + eps) * w (or * (1 + w) when unitOffset != 0).
    /// One group per row (grid-stride over rows); threads stride the row (coalesced) and the sum of squares is a
    /// <see cref="GroupReduce"/> (two barriers). The weight was widened to float32 on upload.
    /// </summary>
    [KernelEntry(ExplicitlyGrouped = true)]
    public static void RmsNorm(ArrayView<float> x, ArrayView<float> weight, ArrayView<float> destination, int rows, int dim, float eps, int unitOffset)
    {
        var scratch = SharedMemory.Allocate<float>(GroupReduce.ScratchLength);
        for (int row = Grid.IdxX; row < rows; row += Grid.DimX)
        {
            long start = (long)row * dim;
            float sumSquares = 0f;
            for (int c = Group.IdxX; c < dim; c += Group.DimX)
            {
                float v = x[start + c];
                sumSquares += v * v;
            }
            sumSquares = GroupReduce.AllReduce<float, SumOperation>(sumSquares, scratch);
            float inv = 1f / MathF.Sqrt(sumSquares / dim + eps);
            for (int c = Group.IdxX; c < dim; c += Group.DimX)
            {
                float w = weight[c];
                destination[start + c] = x[start + c] * inv * (unitOffset != 0 ? 1f + w : w);
            }
        }
    }

    /// <summary>
    /// torch LayerNorm: dst[r, :] = (x - mean) / sqrt(var + eps) * w + b (biased variance). One group per row;
    /// two group reductions (mean, then the centred sum of squares, which is steadier than E[x^2] - mean^2).
    /// </summary>
    [KernelEntry(ExplicitlyGrouped = true)]
    public static void LayerNorm(ArrayView<float> x, ArrayView<float> weight, ArrayView<float> bias, ArrayView<float> destination,
        int rows, int dim, float eps, int hasBias)
    {
        var scratch = SharedMemory.Allocate<float>(GroupReduce.ScratchLength);
        for (int row = Grid.IdxX; row < rows; row += Grid.DimX)
        {
            long start = (long)row * dim;
            float sum = 0f;
            for (int c = Group.IdxX; c < dim; c += Group.DimX) sum += x[start + c];
            float mean = GroupReduce.AllReduce<float, SumOperation>(sum, scratch) / dim;
            float squares = 0f;
            for (int c = Group.IdxX; c < dim; c += Group.DimX)
            {
                float d = x[start + c] - mean;
                squares += d * d;
            }
            float inv = 1f / MathF.Sqrt(GroupReduce.AllReduce<float, SumOperation>(squares, scratch) / dim + eps);
            for (int c = Group.IdxX; c < dim; c += Group.DimX)
                destination[start + c] = (x[start + c] - mean) * inv * weight[c] + (hasBias != 0 ? bias[c] : 0f);
        }
    }
}
