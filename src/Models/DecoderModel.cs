using LongLM.Kernels;
using LongLM.Runtime;
using LongLM.Runtime.Attention;
using LongLM.Runtime.Config;
using LongLM.Runtime.Inference;
using LongLM.Runtime.SafeTensors;

namespace LongLM.Models;

/// <summary>
/// What every decoder family shares around its layers: the logical-call driver (ids check, internal chunking,
/// cancellation, the output head, the non-finite check), the truncate baseline, the lifetime rules and the
/// past-the-trained-length warning. A family supplies its layers (<see cref="RunLayers"/>), its final norm and its
/// lm_head; its weights and tables are immutable, and all per-sequence state is in the <see cref="SequenceState"/>.
/// </summary>
public abstract class DecoderModel : ICausalLM
{
    private readonly object _gate = new();
    private int _activeCalls;
    private bool _disposed;
    private string? _warning;
    private readonly WeightStore _store;

    /// <summary>
    /// A model over <paramref name="attention"/>; <paramref name="gatedMlp"/> sizes the SwiGLU gate buffer;
    /// <paramref name="options"/> gives the load-time quantization (<see cref="ModelOptions.Quantize"/>) the loader applies.
    /// </summary>
    protected DecoderModel(ModelConfig config, WeightStore store, IBackend backend, AttentionBlock attention, bool gatedMlp, ModelOptions? options = null)
    {
        Config = config;
        _store = store;
        Backend = backend;
        Attention = attention;
        GatedMlp = gatedMlp;
        Loader = new WeightLoader(backend, LoadQuantization.From(options, config.TieWordEmbeddings));
        ContextLength = ContextLengthOf(config, attention);
    }

    /// <inheritdoc />
    public ModelConfig Config { get; }
    /// <inheritdoc />
    public IBackend Backend { get; }
    /// <inheritdoc />
    public AttentionPolicy Policy => Attention.Policy;
    /// <inheritdoc />
    public long ContextLength { get; }
    /// <inheritdoc />
    public event Action<string>? Warning;
    /// <inheritdoc />
    public string? LastWarning => _warning;

    /// <summary>The attention block (immutable, shared by every sequence).</summary>
    protected AttentionBlock Attention { get; }
    /// <summary>Loads the family's weights onto the backend and releases them with the model.</summary>
    protected WeightLoader Loader { get; }

    /// <summary>Every weight as loaded (after any load-time quantization), once each: for `longlm info` and tests.</summary>
    public IReadOnlyList<DeviceWeight> LoadedWeights => Loader.Loaded;

    /// <summary>Load-time quantized tensors whose host copy the model still holds (<see cref="WeightLoader.HostQuantizedCopies"/>).</summary>
    public int HostQuantizedCopies => Loader.HostQuantizedCopies;
    private bool GatedMlp { get; }

    /// <summary>Experts of a sparse mixture-of-experts MLP (0: a dense MLP); sizes the workspace's routing buffers.</summary>
    protected virtual int RoutedExperts => 0;

    /// <summary>The output head, [vocab, hidden].</summary>
    protected abstract DeviceWeight LmHead { get; }

    /// <summary>The output head's bias, [vocab], for families whose lm_head is a Linear with bias (GPT-J, Phi); null: none.</summary>
    protected virtual DeviceWeight? LmHeadBias => null;

    /// <summary>
    /// Embeds <paramref name="ids"/> into the workspace's residual stream X and runs every layer over it (the chunk's
    /// attention is already begun on the sequence's cache).
    /// </summary>
    protected abstract void RunLayers(ReadOnlySpan<int> ids, SequenceState sequence);

    /// <summary>The final norm of the first <paramref name="rows"/> rows of X into Xb.</summary>
    protected abstract void FinalNorm(DecoderWorkspace workspace, int rows);

    /// <summary>
    /// Releases the family's weights (called once, after the last call in flight, or from a constructor that failed
    /// part-way: fields may still be null). Overrides call the base.
    /// </summary>
    protected virtual void DisposeWeights() => Loader.Dispose();

    /// <inheritdoc />
    public SequenceState CreateSequence(long firstPosition = 0)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return new SequenceState(this, Attention.CreateCache(Config.NumHiddenLayers, firstPosition),
            new DecoderWorkspace(Backend, Config, GatedMlp, RoutedExperts), Attention.CreateScratch());
    }

    /// <inheritdoc />
    public void Forward(ReadOnlySpan<int> ids, SequenceState sequence, Span<float> logits, LogitsRows rows, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sequence);
        if (!ReferenceEquals(sequence.Model, this)) throw new ArgumentException("the sequence belongs to another model", nameof(sequence));
        if (ids.IsEmpty) throw new LongLMException("no token ids given: a forward call needs at least one token");
        int vocab = Config.VocabSize;
        foreach (int id in ids)
            if ((uint)id >= (uint)vocab) throw new LongLMException($"token id {id} is outside the vocabulary [0, {vocab})");
        long needed = (rows == LogitsRows.All ? ids.Length : 1L) * vocab;
        if (logits.Length < needed) throw new ArgumentException($"logits span of {logits.Length} floats; the call writes {needed}", nameof(logits));

        EnterCall();
        try
        {
            using var call = sequence.BeginCall();
            if (sequence.TruncateContext is { } context) ForwardTruncated(ids, sequence, context, logits, rows, cancellationToken);
            else RunCall(ids, sequence, logits, rows, null, cancellationToken);
        }
        finally
        {
            ExitCall();
        }
    }

    /// <inheritdoc />
    public void ForwardHidden(ReadOnlySpan<int> ids, SequenceState sequence, Span<float> meanHidden, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sequence);
        if (!ReferenceEquals(sequence.Model, this)) throw new ArgumentException("the sequence belongs to another model", nameof(sequence));
        if (ids.IsEmpty) throw new LongLMException("no token ids given: a forward call needs at least one token");
        foreach (int id in ids)
            if ((uint)id >= (uint)Config.VocabSize) throw new LongLMException($"token id {id} is outside the vocabulary [0, {Config.VocabSize})");
        int hidden = Config.HiddenSize;
        if (meanHidden.Length < hidden) throw new ArgumentException($"span of {meanHidden.Length} floats; the call writes {hidden}", nameof(meanHidden));
        if (sequence.TruncateContext is not null && sequence.Cache.TokenCount + ids.Length > Policy.Window)
            throw new LongLMException($"--attention truncate keeps only the last L = {Policy.Window} tokens: hidden states of {ids.Length} more cannot be computed in one call");

        EnterCall();
        try
        {
            using var call = sequence.BeginCall();
            var sum = new double[hidden];
            RunCall(ids, sequence, [], LogitsRows.Last, sum, cancellationToken);
            for (int i = 0; i < hidden; i++) meanHidden[i] = (float)(sum[i] / ids.Length);
            sequence.TruncateContext?.AddRange(ids);
        }
        finally
        {
            ExitCall();
        }
    }

    /// <summary>
    /// One logical call: every chunk takes the call's total length; chunks only bound memory. With
    /// <paramref name="hiddenSum"/> the head is skipped and the final-norm hidden states of every row are summed into it.
    /// </summary>
    private void RunCall(ReadOnlySpan<int> ids, SequenceState s, Span<float> logits, LogitsRows rows, double[]? hiddenSum, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        int n = ids.Length, vocab = Config.VocabSize, chunk = s.PrefillChunk;
        long callKeys = s.Cache.TokenCount + n;
        Attention.CheckCall(callKeys);
        s.Cache.CheckCanAppend(n, chunk);
        if (Policy.Mode == AttentionMode.Vanilla && callKeys > ContextLength) Warn(callKeys);
        bool all = rows == LogitsRows.All;
        float[]? hiddenRows = null;
        for (int start = 0; start < n; start += chunk)
        {
            if (start > 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                ObjectDisposedException.ThrowIf(_disposed, this);
            }
            int m = Math.Min(chunk, n - start);
            bool last = start + m == n;
            var part = ids.Slice(start, m);
            s.Workspace.Prepare(m);
            // Backends that are not safe for concurrent calls (ILGPU: one stream, shared staging buffers) run one
            // chunk at a time; the managed CPU backend runs sequences truly in parallel.
            bool serial = !Backend.SupportsConcurrentCalls;
            if (serial) Monitor.Enter(Backend);
            try
            {
                Attention.Begin(s.Attention, s.Cache, m, callKeys, last);
                RunLayers(part, s);
                Attention.End(s.Attention, s.Cache);
                if (hiddenSum is not null) SumHidden(s.Workspace, m, hiddenSum, ref hiddenRows);
                else if (all) Head(s.Workspace, m, allRows: true, logits.Slice(start * vocab, m * vocab));
                else if (last) Head(s.Workspace, m, allRows: false, logits[..vocab]);
            }
            finally
            {
                if (serial) Monitor.Exit(Backend);
            }
        }
        if (hiddenSum is not null)
        {
            if (!double.IsFinite(hiddenSum.Sum())) throw new LongLMException($"the model produced non-finite hidden states: {DescribeNonFinite()}");
            return;
        }
        CheckFinite(logits[..(int)((all ? n : 1L) * vocab)], s.TokenCount - n, n, all);
    }

    /// <summary>Final norm of a chunk's rows, added row by row into <paramref name="sum"/> (embeddings: mean pooling).</summary>
    private void SumHidden(DecoderWorkspace ws, int rows, double[] sum, ref float[]? host)
    {
        int hidden = Config.HiddenSize;
        FinalNorm(ws, rows);
        host ??= new float[(long)rows * hidden];
        if (host.Length < rows * hidden) host = new float[rows * hidden];
        Backend.Download(ws.Xb, host.AsSpan(0, rows * hidden));
        for (int r = 0; r < rows; r++)
            for (int i = 0; i < hidden; i++) sum[i] += host[r * hidden + i];
    }

    /// <summary>
    /// The truncate baseline (AttentionMode.Truncate): the model only ever sees the last L ids of the sequence, at
    /// positions 0..L-1. While the context fits, calls append as usual (identical to a fresh run, since positions
    /// restart at 0 only once); a call that would overflow the window re-runs the last L ids from an empty cache.
    /// </summary>
    private void ForwardTruncated(ReadOnlySpan<int> ids, SequenceState s, TokenHistory context, Span<float> logits, LogitsRows rows, CancellationToken cancellationToken)
    {
        int window = Policy.Window, vocab = Config.VocabSize;
        if (rows == LogitsRows.All && ids.Length > window)
            throw new LongLMException($"--attention truncate keeps only the last L = {window} tokens: a call can return logits for at most {window} of them (got {ids.Length})");
        if (s.Cache.TokenCount + ids.Length <= window)
        {
            RunCall(ids, s, logits, rows, null, cancellationToken);
            context.AddRange(ids);
            return;
        }
        context.AddRange(ids);
        var rerun = new int[Math.Min(window, context.Count)];
        context.CopyLast(rerun);
        s.Cache.Clear();
        if (rows == LogitsRows.Last)
        {
            RunCall(rerun, s, logits, rows, null, cancellationToken);
            return;
        }
        var all = new float[(long)rerun.Length * vocab];
        RunCall(rerun, s, all, rows, null, cancellationToken);
        all.AsSpan((rerun.Length - ids.Length) * vocab, ids.Length * vocab).CopyTo(logits);
    }

    /// <summary>The output head: only the rows asked for go through the final norm and the (large) lm_head.</summary>
    private void Head(DecoderWorkspace ws, int rows, bool allRows, Span<float> logits)
    {
        int outRows = allRows ? rows : 1, hidden = Config.HiddenSize;
        ws.PrepareLogits(outRows);
        if (!allRows && rows > 1) Backend.Copy(ws.X, (long)(rows - 1) * hidden, ws.X, 0, hidden);
        FinalNorm(ws, outRows);
        Backend.MatMul(ws.Xb, LmHead, LmHeadBias, ws.Logits, outRows);
        Backend.Download(ws.Logits, logits[..(outRows * Config.VocabSize)]);
    }

    /// <summary>
    /// Non-finite logits are never passed on (a sampler would pick token 0 for ever): one clear error instead, naming
    /// the first row and, via <see cref="DescribeNonFinite"/>, where they come from.
    /// </summary>
    private void CheckFinite(ReadOnlySpan<float> logits, long firstPosition, int count, bool allRows)
    {
        // A sum is non-finite if any term is NaN or infinite (or the sum overflows; the exact scan below decides).
        if (float.IsFinite(System.Numerics.Tensors.TensorPrimitives.Sum(logits))) return;
        int vocab = Config.VocabSize;
        for (int i = 0; i < logits.Length; i++)
        {
            if (float.IsFinite(logits[i])) continue;
            long position = allRows ? firstPosition + i / vocab : firstPosition + count - 1;
            throw new LongLMException($"the model produced a non-finite logit ({logits[i]}) at position {position}, token {i % vocab}: {DescribeNonFinite()}");
        }
    }

    /// <summary>
    /// Where non-finite logits come from, for the error message: the first tensor holding a NaN or infinity (one scan
    /// of the memory-mapped checkpoint, paid only on this error path), else an activation overflow.
    /// </summary>
    private string DescribeNonFinite() =>
        WeightScan.FindNonFinite(_store) is var (tensor, index)
            ? $"tensor '{tensor}' holds a non-finite value at element {index}; the checkpoint is damaged"
            : "every weight is finite, so the activations overflowed float32 (the model is run far outside what it was trained for)";

    private void Warn(long callKeys)
    {
        if (Interlocked.CompareExchange(ref _warning, BuildWarning(callKeys), null) is null) Warning?.Invoke(_warning!);
    }

    private string BuildWarning(long callKeys) =>
        $"warning: {callKeys} tokens is past the model's context length of {ContextLength} under vanilla attention; quality degrades from here. Use --lm-infinite (LambdaAttentionOptions) to run far past it in constant memory";

    /// <summary>The trained length, times the rope_scaling factor where the scaling stretches the positions.</summary>
    private static long ContextLengthOf(ModelConfig config, AttentionBlock attention)
    {
        long trained = config.MaxPositionEmbeddings;
        if (attention.Rotary is null || config.RopeScaling is not { } s) return trained;
        double factor = s.Factor ?? 1;
        double original = s.Values.TryGetValue("original_max_position_embeddings", out var o) && o > 0 ? o : trained;
        double maxFactor = s.Values.TryGetValue("max_factor", out var mf) ? mf : 1;
        double length = s.Type switch
        {
            "linear" or "dynamic" => trained * factor,
            "yarn" or "llama3" => Math.Max(trained, original * factor),
            "clex" => trained * maxFactor,
            _ => trained,
        };
        return double.IsFinite(length) ? (long)Math.Min(length, long.MaxValue / 2) : trained;
    }

    private void EnterCall()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _activeCalls++;
        }
    }

    private void ExitCall()
    {
        lock (_gate)
        {
            if (--_activeCalls == 0) Monitor.PulseAll(_gate);
        }
    }

    /// <summary>
    /// Refuses new calls, waits for the calls in flight (they stop at their next chunk boundary), then releases the
    /// weights; a second call is a no-op. The memory map stays valid until then, so no call reads unmapped memory.
    /// </summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            while (_activeCalls > 0) Monitor.Wait(_gate);
        }
        DisposeWeights();
        Attention.Dispose();
        GC.SuppressFinalize(this);
    }
}
