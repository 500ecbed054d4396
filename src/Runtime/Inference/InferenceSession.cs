using System.Runtime.CompilerServices;
using LongLM.Runtime.Sampling;
using LongLM.Runtime.Tokenization;

namespace LongLM.Runtime.Inference;

/// <summary>
/// A conversation with a model: a KV cache, prefill and decode, sampling and streaming. Not thread-safe:
/// one session serves one caller at a time; create several sessions over one model for concurrency.
/// </summary>
public sealed class InferenceSession : IDisposable
{
    private readonly ICausalLM _model;
    private readonly float[] _logits;
    private readonly List<int> _history = [];
    // The last sampled id when generation stopped at MaxTokens: it belongs to the conversation but has not
    // been run yet, so the next prefill runs it first.
    private int? _pending;

    /// <summary>A session over <paramref name="model"/>; <paramref name="stopIds"/> are its default EOS ids.</summary>
    public InferenceSession(ICausalLM model, ModelTokenizer tokenizer, IReadOnlySet<int> stopIds)
    {
        _model = model;
        Tokenizer = tokenizer;
        DefaultStopIds = stopIds;
        Cache = model.CreateCache();
        _logits = new float[model.Config.VocabSize];
    }

    /// <summary>The tokenizer that goes with the model.</summary>
    public ModelTokenizer Tokenizer { get; }

    /// <summary>The KV cache (its TokenCount is the number of tokens seen).</summary>
    public KvCache Cache { get; private set; }

    /// <summary>Ids that end generation unless the options name others.</summary>
    public IReadOnlySet<int> DefaultStopIds { get; }

    /// <summary>Every id run so far (prompt and generated), for repetition penalties.</summary>
    public IReadOnlyList<int> History => _history;

    /// <summary>Forgets the conversation.</summary>
    public void Reset()
    {
        Cache.Dispose();
        Cache = _model.CreateCache();
        _history.Clear();
        _pending = null;
    }

    /// <summary>Runs <paramref name="ids"/> through the model in chunks and returns the last token's logits.</summary>
    public ReadOnlySpan<float> Prefill(ReadOnlySpan<int> ids, int chunk = 512)
    {
        if (_pending is int pending)
        {
            _pending = null;
            ids = new int[] { pending }.Concat(ids.ToArray()).ToArray();
        }
        if (ids.IsEmpty) throw new LongLMException("the prompt is empty: give at least one token (for example BOS)");
        if (chunk <= 0) throw new ArgumentOutOfRangeException(nameof(chunk));
        for (int i = 0; i < ids.Length; i += chunk)
        {
            var part = ids.Slice(i, Math.Min(chunk, ids.Length - i));
            _model.Forward(part, Cache, _logits, LogitsRows.Last);
            foreach (int id in part) _history.Add(id);
        }
        return _logits;
    }

    /// <summary>Generates ids after <paramref name="promptIds"/> (which are appended to the conversation first).</summary>
    public IEnumerable<int> Generate(IReadOnlyList<int> promptIds, GenerationOptions options)
    {
        if (options.MaxTokens < 0) throw new LongLMException($"max tokens must be >= 0, got {options.MaxTokens}");
        var sampler = new Sampler(options.Sampling);
        var stop = options.StopIds ?? DefaultStopIds;
        Prefill(promptIds.ToArray(), options.PrefillChunk);
        return Decode();

        IEnumerable<int> Decode()
        {
            for (int produced = 0; produced < options.MaxTokens; produced++)
            {
                int next = sampler.Sample(_logits, _history);
                if (stop.Contains(next)) yield break;
                // Yield before running the token (streaming latency); until it runs it is pending, so a
                // consumer that stops early still leaves it in the conversation.
                _pending = next;
                yield return next;
                if (produced + 1 == options.MaxTokens) yield break;
                _pending = null;
                _model.Forward([next], Cache, _logits, LogitsRows.Last);
                _history.Add(next);
            }
        }
    }

    /// <summary>Streams the text of generated tokens; the prompt gets BOS when the tokenizer says so.</summary>
    public async IAsyncEnumerable<string> GenerateTextAsync(string prompt, GenerationOptions options,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var ids = Tokenizer.Encode(prompt);
        var decoder = Tokenizer.CreateStreamingDecoder();
        // The model runs on the caller's thread pool; yield between tokens so consumers stay responsive.
        foreach (int id in Generate(ids, options))
        {
            cancellationToken.ThrowIfCancellationRequested();
            string piece = decoder.Push(id);
            if (piece.Length > 0) yield return piece;
            await Task.Yield();
        }
        string rest = decoder.Flush();
        if (rest.Length > 0) yield return rest;
    }

    /// <inheritdoc />
    public void Dispose() => Cache.Dispose();
}
