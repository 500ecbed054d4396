namespace LongLM.Kernels;

/// <summary>
/// A read-only, row-major view of a weight tensor that lives in unmanaged memory (normally a memory-mapped
/// safetensors file). Shape is [Rows, Cols]; a 1-D tensor is [1, n]. The owner of the memory must outlive the view.
/// </summary>
public readonly unsafe struct WeightView
{
    /// <summary>Creates a view over <paramref name="pointer"/>; the caller has validated that Rows*Cols elements are readable.</summary>
    public WeightView(nint pointer, DType dtype, int rows, int cols, string name)
    {
        if (rows <= 0 || cols <= 0) throw new ArgumentOutOfRangeException(nameof(rows), $"weight '{name}' has an empty shape [{rows}, {cols}]");
        Pointer = pointer;
        DType = dtype;
        Rows = rows;
        Cols = cols;
        Name = name;
    }

    /// <summary>Address of element [0, 0].</summary>
    public nint Pointer { get; }
    /// <summary>Storage type.</summary>
    public DType DType { get; }
    /// <summary>Number of rows (output features for a projection).</summary>
    public int Rows { get; }
    /// <summary>Number of columns (input features for a projection).</summary>
    public int Cols { get; }
    /// <summary>Tensor name, for messages.</summary>
    public string Name { get; }
    /// <summary>Element count.</summary>
    public long Length => (long)Rows * Cols;
    /// <summary>Bytes covered.</summary>
    public long ByteLength => Rows * DType.RowByteLength(Cols);

    /// <summary>The raw bytes of row <paramref name="row"/>.</summary>
    public ReadOnlySpan<byte> RowBytes(int row) =>
        new((byte*)Pointer + row * DType.RowByteLength(Cols), (int)DType.RowByteLength(Cols));

    /// <summary>Widens the whole tensor to float32 (for small tensors such as norms and biases, and for tests).</summary>
    public float[] ToFloat32()
    {
        var result = new float[Length];
        for (int r = 0; r < Rows; r++)
            ElementConvert.ToSingle(RowBytes(r), DType, result.AsSpan(r * Cols, Cols));
        return result;
    }
}
