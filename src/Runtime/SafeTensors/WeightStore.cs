using System.Text.Json;
using LongLM.Kernels;

namespace LongLM.Runtime.SafeTensors;

/// <summary>
/// All weights of a model folder: one model.safetensors, or the shards named by model.safetensors.index.json
/// (HF sharded layout). Shards stay memory-mapped for the store's lifetime.
/// </summary>
public sealed class WeightStore : IDisposable
{
    /// <summary>File name of a single-file checkpoint.</summary>
    public const string SingleFile = "model.safetensors";
    /// <summary>File name of the shard index.</summary>
    public const string IndexFile = "model.safetensors.index.json";

    private readonly List<SafeTensorsFile> _files;
    private readonly Dictionary<string, SafeTensorsFile> _byTensor;

    private WeightStore(string directory, List<SafeTensorsFile> files, Dictionary<string, SafeTensorsFile> byTensor)
    {
        Directory = directory;
        _files = files;
        _byTensor = byTensor;
    }

    /// <summary>The model folder.</summary>
    public string Directory { get; }

    /// <summary>Every tensor name in the checkpoint.</summary>
    public IEnumerable<string> Names => _byTensor.Keys;

    /// <summary>The opened files (one, or one per shard).</summary>
    public IReadOnlyList<SafeTensorsFile> Files => _files;

    /// <summary>Opens the checkpoint in <paramref name="directory"/>.</summary>
    public static WeightStore Open(string directory)
    {
        string index = Path.Combine(directory, IndexFile);
        string single = Path.Combine(directory, SingleFile);
        if (System.IO.File.Exists(index)) return OpenSharded(directory, index);
        if (System.IO.File.Exists(single))
        {
            var file = SafeTensorsFile.Open(single);
            return new WeightStore(directory, [file], file.Tensors.Keys.ToDictionary(k => k, _ => file, StringComparer.Ordinal));
        }
        var any = System.IO.Directory.Exists(directory)
            ? System.IO.Directory.GetFiles(directory, "*.safetensors").Order(StringComparer.Ordinal).ToArray()
            : [];
        if (any.Length == 1)
        {
            var file = SafeTensorsFile.Open(any[0]);
            return new WeightStore(directory, [file], file.Tensors.Keys.ToDictionary(k => k, _ => file, StringComparer.Ordinal));
        }
        throw new LongLMException($"{directory}: no {SingleFile} or {IndexFile} found", directory);
    }

    /// <summary>True when the checkpoint has <paramref name="name"/>.</summary>
    public bool Contains(string name) => _byTensor.ContainsKey(name);

    /// <summary>The tensor's header entry; a clear error when missing.</summary>
    public TensorInfo Info(string name) => FileOf(name).Info(name);

    /// <summary>A zero-copy [rows, cols] view of <paramref name="name"/>.</summary>
    public WeightView View(string name) => FileOf(name).View(name);

    /// <summary>The view, checked against the shape the model expects.</summary>
    public WeightView View(string name, params long[] expectedShape)
    {
        var info = Info(name);
        if (!info.Shape.SequenceEqual(expectedShape))
            throw new SafeTensorsException(FileOf(name).FilePath,
                $"tensor '{name}' has shape {info.ShapeText}, config.json implies [{string.Join(", ", expectedShape)}]");
        return View(name);
    }

    private SafeTensorsFile FileOf(string name) =>
        _byTensor.TryGetValue(name, out var file)
            ? file
            : throw new SafeTensorsException(_files.Count == 1 ? _files[0].FilePath : Path.Combine(Directory, IndexFile), $"tensor '{name}' not found in the checkpoint");

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var file in _files) file.Dispose();
    }

    private static WeightStore OpenSharded(string directory, string indexPath)
    {
        Dictionary<string, string> weightMap;
        try
        {
            byte[] indexBytes = System.IO.File.ReadAllBytes(indexPath);
            if (!System.Text.Unicode.Utf8.IsValid(indexBytes)) throw new SafeTensorsException(indexPath, "not valid UTF-8");
            using var document = JsonDocument.Parse(indexBytes);
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                throw new SafeTensorsException(indexPath, "no \"weight_map\" object");
            weightMap = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var entry in map.EnumerateObject())
            {
                if (entry.Value.ValueKind != JsonValueKind.String) throw new SafeTensorsException(indexPath, $"weight_map entry '{entry.Name}' is not a file name");
                string shard = entry.Value.GetString()!;
                // The index is untrusted: a shard must be a plain file name inside the model folder.
                if (shard.Length == 0 || shard != Path.GetFileName(shard) || shard is "." or "..")
                    throw new SafeTensorsException(indexPath, $"weight_map entry '{entry.Name}' names '{shard}', which is not a file in the model folder");
                weightMap[entry.Name] = shard;
            }
        }
        catch (JsonException e)
        {
            throw new SafeTensorsException(indexPath, $"not valid JSON ({e.Message})", e);
        }
        catch (InvalidOperationException e)
        {
            // A string with an unpaired surrogate escape (e.g. "\ud800") cannot be read as text.
            throw new SafeTensorsException(indexPath, $"holds an invalid string ({e.Message})", e);
        }

        var files = new List<SafeTensorsFile>();
        try
        {
            var byShard = new Dictionary<string, SafeTensorsFile>(StringComparer.Ordinal);
            var byTensor = new Dictionary<string, SafeTensorsFile>(StringComparer.Ordinal);
            foreach (var (tensor, shard) in weightMap)
            {
                if (!byShard.TryGetValue(shard, out var file))
                {
                    string shardPath = Path.Combine(directory, shard);
                    if (!System.IO.File.Exists(shardPath))
                        throw new SafeTensorsException(indexPath, $"shard '{shard}' (holding '{tensor}') is missing");
                    file = SafeTensorsFile.Open(shardPath);
                    files.Add(file);
                    byShard[shard] = file;
                }
                if (!file.Tensors.ContainsKey(tensor))
                    throw new SafeTensorsException(file.FilePath, $"tensor '{tensor}' is listed in {IndexFile} but not stored in this shard");
                byTensor[tensor] = file;
            }
            return new WeightStore(directory, files, byTensor);
        }
        catch
        {
            foreach (var file in files) file.Dispose();
            throw;
        }
    }
}
