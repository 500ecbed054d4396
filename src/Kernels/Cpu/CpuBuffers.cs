namespace LongLM.Kernels.Cpu;

/// <summary>A host float32 array.</summary>
internal sealed class CpuBuffer(long length) : DeviceBuffer
{
    public float[] Data { get; } = new float[checked((int)length)];
    public override long Length => Data.Length;
}

/// <summary>A zero-copy view of a memory-mapped weight; vectors (norms, biases) are widened once on first use.</summary>
internal sealed class CpuWeight(WeightView view) : DeviceWeight
{
    private float[]? _widened;

    public WeightView View { get; } = view;
    public override int Rows => View.Rows;
    public override int Cols => View.Cols;
    public override DType DType => View.DType;
    public override string Name => View.Name;

    /// <summary>The whole tensor as float32 (only used for small 1-D tensors).</summary>
    public float[] Widened => _widened ??= View.ToFloat32();
}
