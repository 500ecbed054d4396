using ILGPU;

namespace LongLM.Kernels.Ilgpu;

/// <summary>
/// SwiGLU gate and residual add. Grid-stride loops over elements: consecutive threads touch consecutive floats
/// (coalesced), and the grid is capped at one wave of resident groups by the host.
/// </summary>
public static class ElementwiseKernels
{
    /// <summary>dst[i] = silu(gate[i]) * up[i] for i &lt; count; dst may alias gate or up (each element is read before it is written by the same thread).</summary>
    [KernelEntry(ExplicitlyGrouped = true)]
    public static void SiluMul(ArrayView<float> gate, ArrayView<float> up, ArrayView<float> destination, int count)
    {
        for (int i = Grid.GlobalIndex.X; i < count; i += Grid.DimX * Group.DimX)
        {
            float g = gate[i];
            destination[i] = g / (1f + DeviceMath.Exp(-g)) * up[i];
        }
    }

    /// <summary>dst[i] = a[i] + b[i] for i &lt; count; dst may alias a or b.</summary>
    [KernelEntry(ExplicitlyGrouped = true)]
    public static void Add(ArrayView<float> a, ArrayView<float> b, ArrayView<float> destination, int count)
    {
        for (int i = Grid.GlobalIndex.X; i < count; i += Grid.DimX * Group.DimX)
            destination[i] = a[i] + b[i];
    }
}
