namespace LongLM.Kernels;

/// <summary>A float32 buffer owned by a backend (host array, or device memory for ILGPU backends).</summary>
public abstract class DeviceBuffer : IDisposable
{
    /// <summary>Number of float32 elements.</summary>
    public abstract long Length { get; }

    /// <inheritdoc />
    public virtual void Dispose() => GC.SuppressFinalize(this);
}

/// <summary>A weight tensor made available to a backend (zero-copy view on CPU, device copy on GPU).</summary>
public abstract class DeviceWeight : IDisposable
{
    /// <summary>Rows of the [Rows, Cols] tensor.</summary>
    public abstract int Rows { get; }
    /// <summary>Columns of the [Rows, Cols] tensor.</summary>
    public abstract int Cols { get; }
    /// <summary>Storage type.</summary>
    public abstract DType DType { get; }
    /// <summary>HF tensor name, for messages.</summary>
    public abstract string Name { get; }

    /// <inheritdoc />
    public virtual void Dispose() => GC.SuppressFinalize(this);
}
