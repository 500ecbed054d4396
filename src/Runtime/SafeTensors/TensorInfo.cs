using LongLM.Kernels;

namespace LongLM.Runtime.SafeTensors;

/// <summary>One header entry of a safetensors file; offsets are relative to the start of the data section.</summary>
/// <param name="Name">Tensor name (HF naming, e.g. "model.layers.0.self_attn.q_proj.weight").</param>
/// <param name="DType">Storage type.</param>
/// <param name="Shape">Dimensions, outermost first.</param>
/// <param name="Begin">First byte, relative to the data section.</param>
/// <param name="End">One past the last byte.</param>
public sealed record TensorInfo(string Name, DType DType, long[] Shape, long Begin, long End)
{
    /// <summary>Product of the shape.</summary>
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);

    /// <summary>The shape as text, e.g. [64, 512].</summary>
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}
