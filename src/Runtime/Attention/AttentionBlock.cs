using LongLM.Kernels;
using LongLM.Runtime.Inference;
using LongLM.Runtime.Rope;

namespace LongLM.Runtime.Attention;

/// <summary>How a model encodes positions: rotary embedding of q and k, or ALiBi biases on the logits.</summary>
public abstract record PositionalEncoding
{
    /// <summary>
    /// RoPE over the first <paramref name="RotaryDim"/> dims of each head, frequencies from <paramref name="Scaling"/>
    /// for the length after each call. <paramref name="ReRotateOnChange"/>: keep raw keys and re-rotate every cached key
    /// when the frequencies change (CLEX, algorithms.md 3.4); otherwise cached keys keep the frequencies they were
    /// rotated with (HF's dynamic NTK). <paramref name="LogScale"/>: CLEX's query multiplier for K keys (3.5), or null.
    /// </summary>
    public sealed record Rotary(IRopeScaling Scaling, RopePairing Pairing, int RotaryDim, bool ReRotateOnChange = false, Func<long, double>? LogScale = null)
        : PositionalEncoding
    {
        /// <summary>Fixed frequencies (no scaling that depends on the length).</summary>
        public Rotary(RopeFrequencies frequencies, RopePairing pairing, int rotaryDim)
            : this(new FixedRope(frequencies, rotaryDim), pairing, rotaryDim)
        {
        }
    }

    /// <summary>ALiBi with one slope per query head (algorithms.md 2.4).</summary>
    public sealed record Alibi(float[] Slopes) : PositionalEncoding;
}

/// <summary>
/// The attention block of a model between the q/k/v projections and o_proj: rotary embedding (or ALiBi), the KV
/// cache update, and attention under the policy (vanilla, sliding window, or LM-Infinite's Lambda mask with the
/// distance ceiling and top-k middle tokens, algorithms.md 2.2 to 2.5 and 2.7). Model files call
/// <see cref="Begin"/> once per chunk, <see cref="Run"/> once per layer and <see cref="End"/> once.
/// </summary>
/// <remarks>
/// The block itself is immutable (policy, positional encoding, ALiBi slopes) and shared by every sequence; what
/// changes while a sequence runs lives in that sequence's <see cref="KvCache"/> and <see cref="AttentionScratch"/>.
/// A chunk is part of a <i>logical</i> forward call (one HF <c>model(input_ids)</c>): everything that depends on the
/// length (the frequencies of dynamic NTK or CLEX, CLEX's log factor, D_eff, the top-k row) is taken from the
/// logical call's total length, so the chunk size never changes a number.
/// </remarks>
public sealed class AttentionBlock : IDisposable
{
    private readonly IBackend _backend;
    private readonly PositionalEncoding.Rotary? _rotary;
    private readonly DeviceBuffer? _alibiSlopes;
    private readonly int _heads, _kvHeads, _headDim;
    private readonly float _scale;

    /// <summary>Attention over heads of <paramref name="headDim"/> with the given positional encoding.</summary>
    public AttentionBlock(IBackend backend, AttentionPolicy policy, PositionalEncoding positions, int heads, int kvHeads, int headDim)
    {
        _backend = backend;
        Policy = policy;
        _heads = heads;
        _kvHeads = kvHeads;
        _headDim = headDim;
        _scale = 1f / MathF.Sqrt(headDim);
        switch (positions)
        {
            case PositionalEncoding.Rotary rotary:
                if (rotary.ReRotateOnChange && policy.Mode is AttentionMode.LambdaNoCeiling)
                    throw new LongLMException($"--attention {policy.Mode.Name()} keeps rotated far keys, which cannot follow frequencies that change with the length ({rotary.Scaling.Type})");
                _rotary = rotary;
                break;
            case PositionalEncoding.Alibi alibi:
                if (alibi.Slopes.Length != heads) throw new ArgumentException($"{alibi.Slopes.Length} ALiBi slopes for {heads} heads");
                // Top-k and the no-ceiling ablation are defined for rotary models only (algorithms.md 2.4, 2.5).
                if (policy.TopK > 0) throw new LongLMException("top-k middle tokens are defined for RoPE models only");
                if (policy.Mode is AttentionMode.LambdaNoCeiling or AttentionMode.CeilingOnly)
                    throw new LongLMException($"--attention {policy.Mode.Name()} is defined for RoPE models only (ALiBi models: vanilla, lambda, window, truncate)");
                _alibiSlopes = backend.UploadNew(alibi.Slopes);
                break;
        }
    }

    /// <summary>The policy in force.</summary>
    public AttentionPolicy Policy { get; }

    /// <summary>The rotary encoding (null for ALiBi).</summary>
    public PositionalEncoding.Rotary? Rotary => _rotary;

    /// <summary>Whether caches must keep raw local keys (frequencies that change with the length, CLEX).</summary>
    public bool KeepsRawLocalKeys => _rotary?.ReRotateOnChange == true;

    /// <summary>An empty KV cache for <paramref name="layers"/> layers under this block's policy.</summary>
    public KvCache CreateCache(int layers, long firstPosition = 0) =>
        new(_backend, layers, _kvHeads, _headDim, Policy, firstPosition, KeepsRawLocalKeys);

    /// <summary>The working buffers of one sequence.</summary>
    public AttentionScratch CreateScratch() => new(_backend, _rotary?.RotaryDim ?? 0, _heads, _headDim, Policy.TopK);

    /// <summary>
    /// Checks that a logical call ending at <paramref name="callKeys"/> keys can run (CLEX's L_tr x max_factor limit),
    /// before any chunk of it touches the cache.
    /// </summary>
    public void CheckCall(long callKeys) => _rotary?.Scaling.Compute(callKeys);

    internal readonly record struct Call(int Rows, long FirstPosition, bool TopKActive, int TopKBegin, int TopKEnd, float Scale);

    /// <summary>
    /// Prepares a chunk of <paramref name="rows"/> tokens at the cache's next positions (cos/sin tables, cache room).
    /// The chunk belongs to a logical call that ends with <paramref name="callKeys"/> keys in the cache;
    /// <paramref name="lastChunk"/> says whether it holds that call's last row (the top-k row, 2.5).
    /// </summary>
    public void Begin(AttentionScratch scratch, KvCache cache, int rows, long callKeys, bool lastChunk)
    {
        if (callKeys < cache.TokenCount + rows) throw new ArgumentOutOfRangeException(nameof(callKeys), $"a call of {callKeys} keys cannot hold a chunk ending at {cache.TokenCount + rows}");
        if (lastChunk && callKeys != cache.TokenCount + rows) throw new ArgumentException("the last chunk must end the call", nameof(lastChunk));
        // Frequencies first: CLEX refuses past its limit before the cache changes.
        var frequencies = _rotary?.Scaling.Compute(callKeys);
        scratch.EnsureRows(rows);
        cache.BeginAppend(rows);
        long first = cache.NextPosition;
        // Top-k (2.5): the call's last row only, middle region [G, K - L) of the far slots, active only if K - L >= G + k.
        bool topK = lastChunk && Policy.TopK > 0 && callKeys - Policy.Window >= Policy.Global + Policy.TopK;
        float scale = _rotary?.LogScale is { } logScale ? (float)(_scale * logScale(callKeys)) : _scale;
        scratch.Call = new Call(rows, first, topK, Policy.Global, (int)Math.Min(int.MaxValue, callKeys - Policy.Window), scale);
        if (_rotary is null) return;

        var inverse = frequencies!.InverseFrequencies;
        float factor = frequencies.AttentionFactor;
        int pairs2 = _rotary.RotaryDim / 2 * 2;
        if (_rotary.ReRotateOnChange && cache.RotatedWith is { } old && !ReferenceEquals(old, inverse) && cache.LocalCount > 0)
            ReRotate(cache, inverse, factor);
        cache.RotatedWith = inverse;
        var table = scratch.Table.AsSpan(0, rows * pairs2);
        for (int r = 0; r < rows; r++)
            Kernels.Ops.Rope.CosSin(first + r, inverse, table.Slice(r * pairs2, pairs2), factor);
        _backend.Upload(table, scratch.CosSin);

        if (Policy.HasFarKeys && Policy.FarKeysRaw)
        {
            // D_eff = min(D, K - 1) with K the keys of the logical call (algorithms.md 2.3); equal to D whenever it matters.
            long deff = Math.Min(Policy.Distance, callKeys - 1);
            Kernels.Ops.Rope.CosSin(deff, inverse, table[..pairs2], factor);
            for (int r = 1; r < rows; r++) table[..pairs2].CopyTo(table.Slice(r * pairs2));
            _backend.Upload(table, scratch.CosSinFar);
        }
        if (topK)
        {
            Kernels.Ops.Rope.CosSin(Policy.TopKInsertAt, inverse, table[..pairs2], factor);
            _backend.Upload(table[..pairs2], scratch.CosSinTopK);
        }
    }

    /// <summary>
    /// One layer: q [rows, heads, hd], k and v [rows, kvHeads, hd] straight from the projections (k and q are
    /// rotated here); writes the attention output [rows, heads, hd].
    /// </summary>
    public void Run(int layer, AttentionScratch scratch, KvCache cache, DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, DeviceBuffer output)
    {
        var b = _backend;
        var call = scratch.Call;
        int rows = call.Rows, kvDim = cache.KvDim, qDim = _heads * _headDim;
        var (localSlot, farSlot, farTake) = cache.Pending;

        // Raw (un-rotated) copies first: the far store and the ceiling query need them (2.3 "which tensor is rotated").
        if (farTake > 0 && Policy.FarKeysRaw) b.Copy(k, 0, cache.FarKeys(layer)!, (long)farSlot * kvDim, (long)farTake * kvDim);
        if (farTake > 0) b.Copy(v, 0, cache.FarValues(layer)!, (long)farSlot * kvDim, (long)farTake * kvDim);
        if (cache.RawLocalKeys(layer) is { } raw) b.Copy(k, 0, raw, (long)localSlot * kvDim, (long)rows * kvDim);
        // The ceiling query: q rotated to D against raw keys; ALiBi has no rotation, so it is q itself (with -m*D).
        bool stationary = _rotary is not null && Policy.HasFarKeys && Policy.FarKeysRaw;
        bool topK = call.TopKActive && Policy.TopKInLayer(layer);
        if (_rotary is { } r)
        {
            if (stationary)
            {
                b.Copy(q, 0, scratch.FarQuery, 0, (long)rows * qDim);
                b.Rope(scratch.FarQuery, scratch.CosSinFar, rows, _heads, _headDim, r.RotaryDim, r.Pairing);
            }
            if (topK)
            {
                b.Copy(q, (long)(rows - 1) * qDim, scratch.TopKQuery, 0, qDim);
                b.Rope(scratch.TopKQuery, scratch.CosSinTopK, 1, _heads, _headDim, r.RotaryDim, r.Pairing);
            }
            b.Rope(q, scratch.CosSin, rows, _heads, _headDim, r.RotaryDim, r.Pairing);
            b.Rope(k, scratch.CosSin, rows, _kvHeads, _headDim, r.RotaryDim, r.Pairing);
        }
        if (farTake > 0 && !Policy.FarKeysRaw) b.Copy(k, 0, cache.FarKeys(layer)!, (long)farSlot * kvDim, (long)farTake * kvDim);
        b.Copy(k, 0, cache.LocalKeys(layer), (long)localSlot * kvDim, (long)rows * kvDim);
        b.Copy(v, 0, cache.LocalValues(layer), (long)localSlot * kvDim, (long)rows * kvDim);

        if (topK)
        {
            var shape = new TopKShape(_heads, _kvHeads, _headDim, call.Scale, call.TopKBegin, call.TopKEnd, Policy.TopK);
            b.SelectTopK(scratch.TopKQuery, cache.FarKeys(layer)!, cache.FarValues(layer)!, shape, scratch.ExtraLogits, scratch.ExtraValues);
        }

        bool windowed = Policy.Mode is AttentionMode.Lambda or AttentionMode.LambdaNoCeiling or AttentionMode.Window or AttentionMode.CeilingOnly;
        var attentionShape = new AttentionShape
        {
            QueryCount = rows,
            Heads = _heads,
            KvHeads = _kvHeads,
            HeadDim = _headDim,
            Scale = call.Scale,
            FirstQueryPosition = call.FirstPosition,
            LocalFirstPosition = cache.LocalFirstPosition,
            LocalCount = cache.LocalCount + rows,
            Window = windowed ? Policy.Window : long.MaxValue,
            FarCount = Policy.HasFarKeys ? cache.FarCount + farTake : 0,
            FarFirstPosition = cache.FirstPosition,
            GlobalLimit = Policy.Mode == AttentionMode.CeilingOnly ? long.MaxValue : cache.FirstPosition + Policy.Global,
            StationaryFrom = Policy.Mode == AttentionMode.CeilingOnly ? Policy.Distance : Policy.Window,
            ExtraCount = topK ? Policy.TopK : 0,
            AlibiDistanceCap = Policy.HasFarKeys ? Policy.Distance : long.MaxValue,
        };
        var buffers = new AttentionBuffers(q, cache.LocalKeys(layer), cache.LocalValues(layer), output)
        {
            FarQuery = stationary ? scratch.FarQuery : Policy.HasFarKeys ? q : null,
            FarKeys = cache.FarKeys(layer),
            FarValues = cache.FarValues(layer),
            ExtraLogits = topK ? scratch.ExtraLogits : null,
            ExtraValues = topK ? scratch.ExtraValues : null,
            AlibiSlopes = _alibiSlopes,
        };
        b.Attention(buffers, attentionShape);
    }

    /// <summary>
    /// New frequencies (CLEX's t changed): every cached local key is rebuilt from its raw copy at its own position
    /// (algorithms.md 3.4: "when t changes, re-rotate everything").
    /// </summary>
    private void ReRotate(KvCache cache, double[] inverse, float factor)
    {
        var r = _rotary!;
        int pairs2 = r.RotaryDim / 2 * 2, count = cache.LocalCount, kvDim = cache.KvDim;
        var table = new float[count * pairs2];
        for (int i = 0; i < count; i++)
            Kernels.Ops.Rope.CosSin(cache.LocalFirstPosition + i, inverse, table.AsSpan(i * pairs2, pairs2), factor);
        using var cosSin = _backend.UploadNew(table);
        for (int l = 0; l < cache.Layers; l++)
        {
            _backend.Copy(cache.RawLocalKeys(l)!, 0, cache.LocalKeys(l), 0, (long)count * kvDim);
            _backend.Rope(cache.LocalKeys(l), cosSin, count, _kvHeads, _headDim, r.RotaryDim, r.Pairing);
        }
        cache.ReRotations++;
    }

    /// <summary>Closes the chunk: it is now in the cache.</summary>
    public void End(AttentionScratch scratch, KvCache cache) => cache.EndAppend(scratch.Call.Rows);

    /// <inheritdoc />
    public void Dispose() => _alibiSlopes?.Dispose();
}
