using System.Runtime.InteropServices;
using LongLM.Kernels;
using LongLM.Kernels.Quant;
using LongLM.Runtime.SafeTensors;

namespace LongLM.Tests.Kernels;

/// <summary>A weight in unmanaged memory (as a memory map would give it), stored in a chosen dtype.</summary>
internal sealed unsafe class NativeWeight : IDisposable
{
    private readonly void* _memory;

    public NativeWeight(float[] values, int rows, int cols, DType dtype, string name = "w")
    {
        _memory = NativeMemory.AlignedAlloc((nuint)(values.Length * dtype.Size()), 64);
        var bytes = new Span<byte>(_memory, values.Length * dtype.Size());
        for (int i = 0; i < values.Length; i++)
        {
            switch (dtype)
            {
                case DType.F32: MemoryMarshal.Write(bytes[(i * 4)..], values[i]); break;
                case DType.F16: MemoryMarshal.Write(bytes[(i * 2)..], (Half)values[i]); break;
                // Truncation is a valid bf16 value too; rounding is tested with the writer.
                case DType.BF16: MemoryMarshal.Write(bytes[(i * 2)..], (ushort)(BitConverter.SingleToUInt32Bits(values[i]) >> 16)); break;
            }
        }
        View = new WeightView((nint)_memory, dtype, rows, cols, name);
    }

    public WeightView View { get; }

    public void Dispose() => NativeMemory.AlignedFree(_memory);
}

/// <summary>
/// A float weight quantized row by row to q8_0/q4_0 by ggml's reference rule (BlockQ8_0/BlockQ4_0.QuantizeRowReference,
/// whose bytes the vectorised quantizers equal), in native memory as load-time quantization leaves it.
/// </summary>
internal sealed unsafe class QuantizedWeight : IDisposable
{
    private readonly void* _memory;

    public QuantizedWeight(float[] values, int rows, int cols, DType dtype)
    {
        long rowBytes = dtype.RowByteLength(cols);
        _memory = NativeMemory.AlignedAlloc((nuint)(rows * rowBytes), 64);
        var bytes = new Span<byte>(_memory, (int)(rows * rowBytes));
        for (int r = 0; r < rows; r++)
        {
            var src = values.AsSpan(r * cols, cols);
            var dst = bytes.Slice((int)(r * rowBytes), (int)rowBytes);
            if (dtype == DType.Q8_0) BlockQ8_0.QuantizeRowReference(src, dst);
            else BlockQ4_0.QuantizeRowReference(src, dst);
        }
        View = new WeightView((nint)_memory, dtype, rows, cols, "wq");
    }

    public WeightView View { get; }

    public void Dispose() => NativeMemory.AlignedFree(_memory);
}

/// <summary>Seeded inputs for parity tests.</summary>
internal static class Inputs
{
    public static float[] Random(int count, int seed, float scale = 1f)
    {
        var random = new Random(seed);
        var values = new float[count];
        for (int i = 0; i < count; i++) values[i] = (float)(random.NextDouble() * 2 - 1) * scale;
        return values;
    }
}
