namespace LongLM.Kernels;

/// <summary>Element types a weight may be stored in. Activations are always float32.</summary>
public enum DType
{
    /// <summary>IEEE float32.</summary>
    F32,
    /// <summary>IEEE float16 (binary16).</summary>
    F16,
    /// <summary>bfloat16: the top 16 bits of a float32.</summary>
    BF16,
    /// <summary>ggml's q8_0: blocks of 32 int8 quants with one fp16 scale (34 bytes). Produced at load time, never stored.</summary>
    Q8_0,
    /// <summary>ggml's q4_0: blocks of 32 4-bit quants with one fp16 scale (18 bytes). Produced at load time, never stored.</summary>
    Q4_0,
}

/// <summary>Facts about <see cref="DType"/>.</summary>
public static class DTypes
{
    /// <summary>Bytes per element (whole-byte types only: the block-quantized types have no integral size, see <see cref="RowByteLength"/>).</summary>
    public static int Size(this DType dtype) => dtype switch
    {
        DType.F32 => 4,
        DType.F16 => 2,
        DType.BF16 => 2,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), $"{dtype} has no per-element byte size"),
    };

    /// <summary>True for the block-quantized types (q8_0, q4_0).</summary>
    public static bool IsQuantized(this DType dtype) => dtype is DType.Q8_0 or DType.Q4_0;

    /// <summary>Bytes one row of <paramref name="cols"/> elements occupies; a quantized row needs cols % 32 == 0.</summary>
    public static long RowByteLength(this DType dtype, int cols) => dtype switch
    {
        DType.Q8_0 => CheckedBlocks(dtype, cols) * Quant.BlockQ8_0.BlockBytes,
        DType.Q4_0 => CheckedBlocks(dtype, cols) * Quant.BlockQ4_0.BlockBytes,
        _ => (long)cols * dtype.Size(),
    };

    private static long CheckedBlocks(DType dtype, int cols) => cols % 32 == 0
        ? cols / 32
        : throw new ArgumentOutOfRangeException(nameof(cols), $"{dtype} rows need a multiple of 32 columns, got {cols}");

    /// <summary>The safetensors / HF spelling ("F32", "F16", "BF16").</summary>
    public static string SafeTensorsName(this DType dtype) => dtype switch
    {
        DType.F32 => "F32",
        DType.F16 => "F16",
        DType.BF16 => "BF16",
        DType.Q8_0 => "Q8_0",
        DType.Q4_0 => "Q4_0",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
    };
}
