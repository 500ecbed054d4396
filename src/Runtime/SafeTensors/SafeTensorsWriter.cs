using System.Text;
using System.Text.Json;
using LongLM.Kernels;

namespace LongLM.Runtime.SafeTensors;

/// <summary>Writes safetensors files (fixtures, tests). Tensors are written in the order added, 8-byte aligned header.</summary>
public sealed class SafeTensorsWriter
{
    private readonly List<(string Name, DType DType, long[] Shape, byte[] Data)> _tensors = [];

    /// <summary>Adds float32 values stored as <paramref name="dtype"/> (rounded to nearest-even for F16/BF16).</summary>
    public SafeTensorsWriter Add(string name, DType dtype, long[] shape, ReadOnlySpan<float> values)
    {
        long count = shape.Aggregate(1L, (a, b) => a * b);
        if (count != values.Length) throw new ArgumentException($"{name}: {values.Length} values for shape [{string.Join(", ", shape)}]");
        var data = new byte[values.Length * dtype.Size()];
        for (int i = 0; i < values.Length; i++)
        {
            switch (dtype)
            {
                case DType.F32: BitConverter.TryWriteBytes(data.AsSpan(i * 4), values[i]); break;
                case DType.F16: BitConverter.TryWriteBytes(data.AsSpan(i * 2), (Half)values[i]); break;
                case DType.BF16: BitConverter.TryWriteBytes(data.AsSpan(i * 2), ElementConvert.SingleToBFloat16(values[i])); break;
            }
        }
        _tensors.Add((name, dtype, shape, data));
        return this;
    }

    /// <summary>Writes the file.</summary>
    public void Write(string path, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var header = new Dictionary<string, object>();
        if (metadata is not null) header["__metadata__"] = metadata;
        long offset = 0;
        foreach (var t in _tensors)
        {
            header[t.Name] = new { dtype = t.DType.SafeTensorsName(), shape = t.Shape, data_offsets = new[] { offset, offset + t.Data.Length } };
            offset += t.Data.Length;
        }
        var json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        int padded = (json.Length + 7) / 8 * 8;
        using var stream = File.Create(path);
        stream.Write(BitConverter.GetBytes((ulong)padded));
        stream.Write(json);
        for (int i = json.Length; i < padded; i++) stream.WriteByte((byte)' ');
        foreach (var t in _tensors) stream.Write(t.Data);
    }
}
