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

    /// <summary>
    /// dst[i] = gelu(x[i]); tanh != 0 selects the tanh approximation, else the erf form with the A&amp;S 7.1.26 erf of
    /// Ops.Gelu.Erf (tanh and erf written with exp, which PTX has as ex2).
    /// </summary>
    [KernelEntry(ExplicitlyGrouped = true)]
    public static void Gelu(ArrayView<float> x, ArrayView<float> destination, int count, int tanh)
    {
        for (int i = Grid.GlobalIndex.X; i < count; i += Grid.DimX * Group.DimX)
        {
            float v = x[i];
            float inner;
            if (tanh != 0)
            {
                float z = 0.7978845608f * (v + 0.044715f * v * v * v);
                inner = 1f - 2f / (DeviceMath.Exp(2f * z) + 1f);
            }
            else
            {
                float a = IntrinsicMath.Abs(v * 0.70710678118f);
                float s = 1f / (1f + 0.3275911f * a);
                float poly = s * (0.254829592f + s * (-0.284496736f + s * (1.421413741f + s * (-1.453152027f + s * 1.061405429f))));
                float erf = 1f - poly * DeviceMath.Exp(-a * a);
                inner = v < 0 ? -erf : erf;
            }
            destination[i] = 0.5f * v * (1f + inner);
        }
    }
}
