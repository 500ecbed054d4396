using System.IO.MemoryMappedFiles;
using System.Text.Json;
using LongLM.Kernels;

namespace LongLM.Runtime.SafeTensors;

/// <summary>
/// A memory-mapped safetensors file: an 8-byte little-endian header length N, N bytes of UTF-8 JSON
/// ({name: {dtype, shape, data_offsets}}, optional "__metadata__"), then the data section. Every header field
/// is validated before any tensor is touched, because a model folder is untrusted input: nothing is allocated
/// from a size the header claims, and no view can point outside the mapping.
/// </summary>
public sealed unsafe class SafeTensorsFile : IDisposable
{
    /// <summary>Headers above this are refused before reading them (real ones are a few hundred KB).</summary>
    public const long MaxHeaderBytes = 100L * 1024 * 1024;

    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _base;
    private readonly long _dataStart;
    private readonly Dictionary<string, TensorInfo> _tensors;

    private SafeTensorsFile(string path, MemoryMappedFile map, MemoryMappedViewAccessor view, byte* basePointer,
        long dataStart, Dictionary<string, TensorInfo> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        FilePath = path;
        _map = map;
        _view = view;
        _base = basePointer;
        _dataStart = dataStart;
        _tensors = tensors;
        Metadata = metadata;
    }

    /// <summary>Path the file was opened from.</summary>
    public string FilePath { get; }

    /// <summary>Header entries by name.</summary>
    public IReadOnlyDictionary<string, TensorInfo> Tensors => _tensors;

    /// <summary>The "__metadata__" string map (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Opens and validates <paramref name="path"/>; throws <see cref="SafeTensorsException"/> on any defect.</summary>
    public static SafeTensorsFile Open(string path)
    {
        long fileLength;
        try
        {
            // The length of what the path resolves to: Hugging Face's hub cache links snapshot files to blobs, and
            // FileInfo.Length would be the link's own length.
            using var handle = File.OpenHandle(path);
            fileLength = RandomAccess.GetLength(handle);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SafeTensorsException(path, $"cannot read the file ({e.Message})", e);
        }
        if (!File.Exists(path)) throw new SafeTensorsException(path, "file not found");
        if (fileLength < 8) throw new SafeTensorsException(path, $"file is {fileLength} bytes, shorter than the 8-byte header length");

        MemoryMappedFile map;
        try
        {
            map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SafeTensorsException(path, $"cannot map the file ({e.Message})", e);
        }
        MemoryMappedViewAccessor? view = null;
        bool acquired = false;
        try
        {
            view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* basePointer = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref basePointer);
            acquired = true;
            basePointer += view.PointerOffset;

            ulong headerLength = *(ulong*)basePointer;
            if (headerLength > MaxHeaderBytes)
                throw new SafeTensorsException(path, $"header length {headerLength} exceeds the {MaxHeaderBytes}-byte limit");
            if ((long)headerLength > fileLength - 8)
                throw new SafeTensorsException(path, $"header length {headerLength} runs past the end of the {fileLength}-byte file");
            long dataStart = 8 + (long)headerLength;
            long dataLength = fileLength - dataStart;
            var header = new ReadOnlySpan<byte>(basePointer + 8, (int)headerLength);
            var (tensors, metadata) = ParseHeader(path, header, dataLength);
            return new SafeTensorsFile(path, map, view, basePointer, dataStart, tensors, metadata);
        }
        catch
        {
            if (acquired) view!.SafeMemoryMappedViewHandle.ReleasePointer();
            view?.Dispose();
            map.Dispose();
            throw;
        }
    }

    /// <summary>The tensor's bytes, straight from the mapping (no copy).</summary>
    public ReadOnlySpan<byte> Bytes(string name)
    {
        var info = Info(name);
        return new ReadOnlySpan<byte>(_base + _dataStart + info.Begin, checked((int)(info.End - info.Begin)));
    }

    /// <summary>
    /// <paramref name="length"/> bytes of a tensor from byte <paramref name="offset"/> on, straight from the mapping:
    /// a window for readers of tensors larger than one span (2 GB).
    /// </summary>
    internal ReadOnlySpan<byte> Bytes(TensorInfo info, long offset, int length)
    {
        if (offset < 0 || length < 0 || offset + length > info.End - info.Begin)
            throw new ArgumentOutOfRangeException(nameof(offset), $"bytes [{offset}, {offset + length}) lie outside tensor '{info.Name}'");
        return new ReadOnlySpan<byte>(_base + _dataStart + info.Begin + offset, length);
    }

    /// <summary>A row-major [rows, cols] view; rank-1 tensors are [1, n], higher ranks fold all but the last dimension.</summary>
    public WeightView View(string name)
    {
        var info = Info(name);
        if (info.Shape.Length == 0) throw new SafeTensorsException(FilePath, $"tensor '{name}' is a scalar, expected a vector or matrix");
        long cols = info.Shape[^1];
        long rows = info.ElementCount / Math.Max(1, cols);
        if (rows == 0 || cols == 0) throw new SafeTensorsException(FilePath, $"tensor '{name}' is empty {info.ShapeText}");
        if (rows > int.MaxValue || cols > int.MaxValue)
            throw new SafeTensorsException(FilePath, $"tensor '{name}' {info.ShapeText} is too large for one view");
        return new WeightView((nint)(_base + _dataStart + info.Begin), info.DType, (int)rows, (int)cols, name);
    }

    /// <summary>The header entry of <paramref name="name"/>, or a clear error when it is missing.</summary>
    public TensorInfo Info(string name) =>
        _tensors.TryGetValue(name, out var info) ? info : throw new SafeTensorsException(FilePath, $"tensor '{name}' not found");

    /// <inheritdoc />
    public void Dispose()
    {
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }

    private static (Dictionary<string, TensorInfo>, IReadOnlyDictionary<string, string>) ParseHeader(string path, ReadOnlySpan<byte> header, long dataLength)
    {
        // System.Text.Json does not validate string contents while parsing; reading an invalid one later throws
        // InvalidOperationException, so bad UTF-8 is refused here and bad escapes are caught below.
        if (!System.Text.Unicode.Utf8.IsValid(header)) throw new SafeTensorsException(path, "header is not valid UTF-8");
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(header.ToArray(), new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw new SafeTensorsException(path, $"header is not valid JSON ({e.Message})", e);
        }
        using (document)
        {
            try
            {
                if (document.RootElement.ValueKind != JsonValueKind.Object)
                    throw new SafeTensorsException(path, "header is not a JSON object");
                var tensors = new Dictionary<string, TensorInfo>(StringComparer.Ordinal);
                var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
                foreach (var property in document.RootElement.EnumerateObject())
                {
                    if (property.Name == "__metadata__")
                    {
                        if (property.Value.ValueKind != JsonValueKind.Object) throw new SafeTensorsException(path, "__metadata__ is not an object");
                        foreach (var m in property.Value.EnumerateObject())
                            metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()! : m.Value.GetRawText();
                        continue;
                    }
                    if (tensors.ContainsKey(property.Name)) throw new SafeTensorsException(path, $"tensor '{property.Name}' is listed twice");
                    tensors.Add(property.Name, ParseEntry(path, property.Name, property.Value, dataLength));
                }
                CheckNoOverlap(path, tensors.Values);
                return (tensors, metadata);
            }
            catch (InvalidOperationException e)
            {
                // A string with an unpaired surrogate escape (e.g. "\ud800") cannot be read as text.
                throw new SafeTensorsException(path, $"header holds an invalid string ({e.Message})", e);
            }
        }
    }

    private static TensorInfo ParseEntry(string path, string name, JsonElement entry, long dataLength)
    {
        if (entry.ValueKind != JsonValueKind.Object) throw new SafeTensorsException(path, $"tensor '{name}': entry is not an object");
        if (!entry.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw new SafeTensorsException(path, $"tensor '{name}': missing dtype");
        string dtypeText = dtypeElement.GetString()!;
        DType dtype = dtypeText switch
        {
            "F32" => DType.F32,
            "F16" => DType.F16,
            "BF16" => DType.BF16,
            _ => throw new SafeTensorsException(path, $"tensor '{name}': unsupported dtype '{dtypeText}' (supported: F32, F16, BF16)"),
        };
        if (!entry.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
            throw new SafeTensorsException(path, $"tensor '{name}': missing shape");
        var shape = new long[shapeElement.GetArrayLength()];
        long elements = 1;
        int d = 0;
        foreach (var dim in shapeElement.EnumerateArray())
        {
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt64(out long value) || value < 0)
                throw new SafeTensorsException(path, $"tensor '{name}': shape dimension {dim.GetRawText()} is not a non-negative integer");
            shape[d++] = value;
            try
            {
                elements = checked(elements * value);
            }
            catch (OverflowException)
            {
                throw new SafeTensorsException(path, $"tensor '{name}': shape {shapeElement.GetRawText()} overflows");
            }
        }
        if (!entry.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2)
            throw new SafeTensorsException(path, $"tensor '{name}': data_offsets must be [begin, end]");
        if (offsets[0].ValueKind != JsonValueKind.Number || offsets[1].ValueKind != JsonValueKind.Number
            || !offsets[0].TryGetInt64(out long begin) || !offsets[1].TryGetInt64(out long end))
            throw new SafeTensorsException(path, $"tensor '{name}': data_offsets {offsets.GetRawText()} are not integers");
        if (begin < 0 || end < begin || end > dataLength)
            throw new SafeTensorsException(path, $"tensor '{name}': data_offsets [{begin}, {end}] lie outside the {dataLength}-byte data section");
        long expected;
        try
        {
            expected = checked(elements * dtype.Size());
        }
        catch (OverflowException)
        {
            throw new SafeTensorsException(path, $"tensor '{name}': byte size of shape {shapeElement.GetRawText()} overflows");
        }
        if (end - begin != expected)
            throw new SafeTensorsException(path, $"tensor '{name}': {end - begin} bytes stored but shape {shapeElement.GetRawText()} x {dtypeText} needs {expected}");
        return new TensorInfo(name, dtype, shape, begin, end);
    }

    private static void CheckNoOverlap(string path, IEnumerable<TensorInfo> tensors)
    {
        TensorInfo? previous = null;
        foreach (var t in tensors.Where(t => t.End > t.Begin).OrderBy(t => t.Begin))
        {
            if (previous is not null && t.Begin < previous.End)
                throw new SafeTensorsException(path, $"tensors '{previous.Name}' and '{t.Name}' overlap");
            previous = t;
        }
    }
}
