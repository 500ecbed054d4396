using System.Text;
using System.Text.Json;
using LongLM.Kernels;

namespace LongLM.Runtime.SafeTensors;

/// <summary>
/// Writes safetensors files (fixtures, tests). Tensors are written in the order added; values are produced
/// one tensor at a time while writing, so a multi-GB fixture never sits in memory whole.
/// </summary>
public sealed class SafeTensorsWriter
{
    private readonly List<(string Name, DType DType, long[] Shape, Action<Span<float>> Fill)> _tensors = [];

    /// <summary>Adds float32 values stored as <paramref name="dtype"/> (rounded to nearest-even for F16/BF16).</summary>
    public SafeTensorsWriter Add(string name, DType dtype, long[] shape, ReadOnlySpan<float> values)
    {
        float[] copy = values.ToArray();
        if (Count(shape) != copy.Length) throw new ArgumentException($"{name}: {copy.Length} values for shape [{string.Join(", ", shape)}]");
        return Add(name, dtype, shape, span => copy.CopyTo(span));
    }

    /// <summary>Adds a tensor whose values <paramref name="fill"/> writes when the file is written.</summary>
    public SafeTensorsWriter Add(string name, DType dtype, long[] shape, Action<Span<float>> fill)
    {
        _tensors.Add((name, dtype, shape, fill));
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
            long bytes = Count(t.Shape) * t.DType.Size();
            header[t.Name] = new { dtype = t.DType.SafeTensorsName(), shape = t.Shape, data_offsets = new[] { offset, offset + bytes } };
            offset += bytes;
        }
        var json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        int padded = (json.Length + 7) / 8 * 8;
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        stream.Write(BitConverter.GetBytes((ulong)padded));
        stream.Write(json);
        for (int i = json.Length; i < padded; i++) stream.WriteByte((byte)' ');
        foreach (var t in _tensors)
        {
            var values = new float[checked((int)Count(t.Shape))];
            t.Fill(values);
            stream.Write(Encode(values, t.DType));
        }
    }

    private static long Count(long[] shape) => shape.Aggregate(1L, (a, b) => a * b);

    private static byte[] Encode(float[] values, DType dtype)
    {
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
        return data;
    }
}
