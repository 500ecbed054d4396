using LongLM.Kernels;
using LongLM.Runtime;
using LongLM.Runtime.Attention;
using LongLM.Runtime.Config;
using LongLM.Runtime.Inference;
using LongLM.Runtime.SafeTensors;
using LongLM.Runtime.Tokenization;

namespace LongLM.Models;

/// <summary>
/// A model folder in Hugging Face layout, loaded: config, memory-mapped weights on a backend, tokenizer.
/// The entry point of the library: <c>using var lm = LanguageModel.Load(dir); using var chat = lm.CreateSession();</c>
/// </summary>
/// <remarks>
/// Thread-safe: one model serves any number of sessions and <see cref="Logits"/> calls from any number of threads,
/// each with its own state. After <see cref="Dispose"/> (which waits for calls in flight to reach a chunk boundary)
/// every member throws <see cref="ObjectDisposedException"/>.
/// </remarks>
public sealed class LanguageModel : IDisposable
{
    private readonly WeightStore _store;
    private readonly bool _ownsBackend;
    private bool _disposed;

    private LanguageModel(string directory, ModelConfig config, GenerationConfig? generation, WeightStore store,
        ICausalLM model, ModelTokenizer tokenizer, bool ownsBackend)
    {
        Directory = directory;
        Config = config;
        Generation = generation;
        _store = store;
        Model = model;
        Tokenizer = tokenizer;
        _ownsBackend = ownsBackend;
    }

    /// <summary>The model folder.</summary>
    public string Directory { get; }
    /// <summary>config.json.</summary>
    public ModelConfig Config { get; }
    /// <summary>generation_config.json, when present.</summary>
    public GenerationConfig? Generation { get; }
    /// <summary>The forward pass.</summary>
    public ICausalLM Model { get; }
    /// <summary>The tokenizer.</summary>
    public ModelTokenizer Tokenizer { get; }
    /// <summary>The weights as stored.</summary>
    public WeightStore Weights => _store;

    /// <summary>
    /// Loads <paramref name="directory"/> on the backend named <paramref name="backend"/> ("cpu" by default);
    /// <paramref name="attention"/> turns on LM-Infinite or an ablation (null: the model's own attention).
    /// </summary>
    public static LanguageModel Load(string directory, string backend = "cpu", LambdaAttentionOptions? attention = null) =>
        Load(directory, backend, new ModelOptions { Attention = attention });

    /// <summary>Loads <paramref name="directory"/> with every option (attention, RoPE overrides, CLEX).</summary>
    public static LanguageModel Load(string directory, string backend, ModelOptions options) =>
        Load(directory, Backends.Create(backend), ownsBackend: true, options);

    /// <summary>Loads <paramref name="directory"/> on an existing backend (which the caller keeps owning).</summary>
    public static LanguageModel Load(string directory, IBackend backend, ModelOptions? options = null) =>
        Load(directory, backend, ownsBackend: false, options ?? new ModelOptions());

    private static LanguageModel Load(string directory, IBackend backend, bool ownsBackend, ModelOptions options)
    {
        try
        {
            if (!System.IO.Directory.Exists(directory)) throw new LongLMException($"{directory}: model folder not found", directory);
            var config = options.Apply(ModelRegistry.LoadConfig(directory));
            var generation = GenerationConfig.Load(directory);
            // The tokenizer builds on another core while the weights load here: for a 49K-token BPE file, parsing
            // tokenizer.json and building the merge tables take about as long as mapping and uploading the weights,
            // and both sit between the process start and the first token. Its errors keep their precedence: a bad
            // tokenizer is reported even when the weights fail too, as when the two loaded one after the other.
            var tokenizerTask = Task.Run(() => ModelTokenizer.Load(directory));
            ICausalLM model;
            WeightStore store;
            try
            {
                store = WeightStore.Open(directory);
                try
                {
                    var policy = options.Attention?.Resolve(config) ?? LambdaAttentionOptions.ModelDefault(config);
                    model = ModelRegistry.Create(config, store, backend, policy, options);
                }
                catch
                {
                    store.Dispose();
                    throw;
                }
            }
            catch
            {
                tokenizerTask.GetAwaiter().GetResult(); // throws the tokenizer's error, if it has one, in place of this one
                throw;
            }
            ModelTokenizer tokenizer;
            try
            {
                tokenizer = tokenizerTask.GetAwaiter().GetResult();
            }
            catch
            {
                model.Dispose();
                store.Dispose();
                throw;
            }
            return new LanguageModel(directory, config, generation, store, model, tokenizer, ownsBackend);
        }
        catch when (ownsBackend)
        {
            backend.Dispose();
            throw;
        }
    }

    /// <summary>EOS ids from config.json, generation_config.json and the tokenizer.</summary>
    public IReadOnlySet<int> StopIds
    {
        get
        {
            var ids = new HashSet<int>(Config.EosTokenIds);
            if (Generation is not null) ids.UnionWith(Generation.EosTokenIds);
            if (Tokenizer.EosId is int eos) ids.Add(eos);
            return ids;
        }
    }

    /// <summary>A new conversation with its own sequence state; sessions are independent of each other.</summary>
    public InferenceSession CreateSession()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return new(Model, Tokenizer, StopIds);
    }

    /// <summary>
    /// Float32 logits for every position of <paramref name="ids"/> ([ids.Length, vocab]) from an empty cache: exactly
    /// HF's <c>model(input_ids).logits</c>, one logical forward call. <paramref name="chunk"/> only bounds activation
    /// memory (tokens per internal pass); it never changes a number.
    /// </summary>
    public float[] Logits(ReadOnlySpan<int> ids, int chunk = SequenceState.DefaultPrefillChunk, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (ids.IsEmpty) throw new LongLMException("no token ids given");
        int vocab = Config.VocabSize;
        long size = (long)ids.Length * vocab;
        if (size > Array.MaxLength) throw new LongLMException($"{ids.Length} rows of {vocab} logits do not fit in one array; score long inputs with ppl or a session");
        using var sequence = Model.CreateSequence();
        sequence.PrefillChunk = chunk;
        var logits = new float[size];
        Model.Forward(ids, sequence, logits, LogitsRows.All, cancellationToken);
        return logits;
    }

    /// <summary>Parameter count as stored (tied embeddings counted once).</summary>
    public long ParameterCount => _store.Files.SelectMany(f => f.Tensors.Values).Sum(t => t.ElementCount);

    /// <summary>Releases the weights (device copies and the memory map) and, if owned, the backend; a second call is a no-op.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        var backend = Model.Backend;
        Model.Dispose();
        _store.Dispose();
        if (_ownsBackend) backend.Dispose();
    }
}
