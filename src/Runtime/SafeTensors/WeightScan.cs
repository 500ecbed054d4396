using System.Numerics;
using System.Runtime.InteropServices;
using LongLM.Kernels;

namespace LongLM.Runtime.SafeTensors;

/// <summary>
/// Finds NaN and infinity in stored weights: a checkpoint damaged in training, conversion or transfer gives NaN
/// logits far from the cause, and this names the tensor instead. Tensors are read through the memory mapping in
/// windows (no copies), vectorised on the exponent bits: a value is non-finite exactly when its exponent is all
/// ones, in F32 (0x7F800000), F16 (0x7C00) and BF16 (0x7F80) alike.
/// </summary>
public static class WeightScan
{
    /// <summary>Bytes examined per window: a multiple of every element size, small enough to stay one span.</summary>
    private const int WindowBytes = 1 << 24;

    /// <summary>
    /// The first tensor (files in store order, tensors in file order) holding a non-finite value, and the flat
    /// (row-major) index of its first such element; null when every value is finite. Reads every byte of the
    /// checkpoint once.
    /// </summary>
    public static (string Tensor, long Index)? FindNonFinite(WeightStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        foreach (var (file, info) in TensorsInOrder(store))
        {
            if (FindNonFinite(file, info) is long index) return (info.Name, index);
        }
        return null;
    }

    /// <summary>
    /// Throws a <see cref="SafeTensorsException"/> naming the file, the tensor, the element and its value when
    /// <see cref="FindNonFinite(WeightStore)"/> finds one.
    /// </summary>
    public static void ThrowIfNonFinite(WeightStore store)
    {
        if (FindNonFinite(store) is not var (name, index)) return;
        var (file, info) = TensorsInOrder(store).First(t => t.Info.Name == name);
        int size = info.DType.Size();
        Span<float> value = stackalloc float[1];
        ElementConvert.ToSingle(file.Bytes(info, index * size, size), info.DType, value);
        throw new SafeTensorsException(file.FilePath,
            $"tensor '{name}' {info.ShapeText} {info.DType.SafeTensorsName()} holds {value[0].ToString(System.Globalization.CultureInfo.InvariantCulture)} at element {index} ({Coordinates(info.Shape, index)}); the checkpoint is damaged");
    }

    /// <summary>Index of the first non-finite element of one tensor, or null.</summary>
    internal static long? FindNonFinite(SafeTensorsFile file, TensorInfo info)
    {
        int size = info.DType.Size();
        long total = info.End - info.Begin;
        for (long offset = 0; offset < total; offset += WindowBytes)
        {
            var window = file.Bytes(info, offset, (int)Math.Min(WindowBytes, total - offset));
            int at = IndexOfNonFinite(window, info.DType);
            if (at >= 0) return offset / size + at;
        }
        return null;
    }

    /// <summary>Index of the first non-finite element of <paramref name="bytes"/> (elements of <paramref name="dtype"/>), or -1.</summary>
    public static int IndexOfNonFinite(ReadOnlySpan<byte> bytes, DType dtype) => dtype switch
    {
        DType.F32 => IndexOfAllOnesExponent(MemoryMarshal.Cast<byte, uint>(bytes), 0x7F80_0000u),
        DType.F16 => IndexOfAllOnesExponent(MemoryMarshal.Cast<byte, ushort>(bytes), (ushort)0x7C00),
        DType.BF16 => IndexOfAllOnesExponent(MemoryMarshal.Cast<byte, ushort>(bytes), (ushort)0x7F80),
        _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
    };

    private static int IndexOfAllOnesExponent<T>(ReadOnlySpan<T> bits, T exponent) where T : unmanaged, IBinaryInteger<T>
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated && bits.Length >= Vector<T>.Count)
        {
            var mask = new Vector<T>(exponent);
            var vectors = MemoryMarshal.Cast<T, Vector<T>>(bits);
            // Whole vectors first; only a vector that holds a hit is searched element by element.
            for (int v = 0; v < vectors.Length; v++)
            {
                if (Vector.EqualsAny(vectors[v] & mask, mask)) return v * Vector<T>.Count + IndexOfAllOnesExponentScalar(bits.Slice(v * Vector<T>.Count, Vector<T>.Count), exponent);
            }
            i = vectors.Length * Vector<T>.Count;
        }
        int tail = IndexOfAllOnesExponentScalar(bits[i..], exponent);
        return tail < 0 ? -1 : i + tail;
    }

    private static int IndexOfAllOnesExponentScalar<T>(ReadOnlySpan<T> bits, T exponent) where T : unmanaged, IBinaryInteger<T>
    {
        for (int i = 0; i < bits.Length; i++)
        {
            if ((bits[i] & exponent) == exponent) return i;
        }
        return -1;
    }

    /// <summary>Every tensor the store serves, with its file: files in store order, tensors by offset.</summary>
    private static IEnumerable<(SafeTensorsFile File, TensorInfo Info)> TensorsInOrder(WeightStore store)
    {
        var served = store.Names.ToHashSet(StringComparer.Ordinal);
        foreach (var file in store.Files)
        {
            foreach (var info in file.Tensors.Values.OrderBy(t => t.Begin))
            {
                // A shard may hold tensors its index does not list; the store (and so the model) never reads those.
                if (served.Contains(info.Name) && info.End > info.Begin) yield return (file, info);
            }
        }
    }

    /// <summary>"[r, c]" of a flat row-major index.</summary>
    private static string Coordinates(long[] shape, long index)
    {
        var coordinates = new long[shape.Length];
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            coordinates[d] = index % shape[d];
            index /= shape[d];
        }
        return "[" + string.Join(", ", coordinates) + "]";
    }
}
