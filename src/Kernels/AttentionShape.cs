namespace LongLM.Kernels;

/// <summary>
/// Which keys a query sees, by absolute position (algorithms.md 2.2 and 2.3, generalised so that vanilla causal,
/// sliding window, Lambda, Lambda without ceiling and ceiling-only are one kernel with different numbers).
/// Query row r sits at position i = FirstQueryPosition + r. It sees:
/// <list type="bullet">
/// <item>local keys: positions j in [max(LocalFirstPosition, i - Window + 1), i], logit scale * q . k_local (rotary);</item>
/// <item>far keys: far slot s holds position j = FarFirstPosition + s, visible when s &lt; FarCount, j &lt; GlobalLimit
/// and i - j >= Window; those with
/// i - j >= StationaryFrom take logit scale * farQuery . k_far (the distance ceiling: the query rotated to D against the
/// raw key), the rest (Window &lt;= i - j &lt; StationaryFrom, ceiling-only with D > L) take logit 0;</item>
/// <item>extra entries (top-k middle tokens): ExtraCount (logit, value) pairs per head, for the last row only.</item>
/// </list>
/// With ALiBi slopes m_h, local logits also get -m_h * min(i - j, AlibiDistanceCap) and far logits -m_h * AlibiDistanceCap
/// (algorithms.md 2.4: starting tokens clipped at -m*D under LM-Infinite; the cap is unbounded for vanilla ALiBi).
/// All surviving logits share one softmax.
/// </summary>
public readonly record struct AttentionShape
{
    /// <summary>Plain causal attention until the optional members say otherwise.</summary>
    public AttentionShape()
    {
    }

    /// <summary>Query rows in this call.</summary>
    public required int QueryCount { get; init; }
    /// <summary>Query heads.</summary>
    public required int Heads { get; init; }
    /// <summary>Key/value heads; query head h reads KV head h / (Heads / KvHeads) (HF repeat_kv).</summary>
    public required int KvHeads { get; init; }
    /// <summary>Dimension of one head.</summary>
    public required int HeadDim { get; init; }
    /// <summary>Logit scale, normally 1/sqrt(HeadDim).</summary>
    public required float Scale { get; init; }
    /// <summary>Absolute position of query row 0.</summary>
    public required long FirstQueryPosition { get; init; }
    /// <summary>Absolute position of local slot 0.</summary>
    public required long LocalFirstPosition { get; init; }
    /// <summary>Local slots filled; they must cover every local key of every row (through the last query).</summary>
    public required int LocalCount { get; init; }
    /// <summary>L: local keys are at distance 0 .. L-1 (long.MaxValue: plain causal attention).</summary>
    public long Window { get; init; } = long.MaxValue;
    /// <summary>Far slots stored.</summary>
    public int FarCount { get; init; }
    /// <summary>Absolute position of far slot 0 (the first token of the stream).</summary>
    public long FarFirstPosition { get; init; }
    /// <summary>Only far keys with position below this are visible (G for Lambda; unbounded for ceiling-only).</summary>
    public long GlobalLimit { get; init; } = long.MaxValue;
    /// <summary>Far keys at distance >= this take the far (stationary) logit; nearer far keys take logit 0.</summary>
    public long StationaryFrom { get; init; }
    /// <summary>Top-k entries per head added to the last row.</summary>
    public int ExtraCount { get; init; }
    /// <summary>ALiBi distances are clipped here (D under LM-Infinite); used only when slopes are given.</summary>
    public long AlibiDistanceCap { get; init; } = long.MaxValue;

    /// <summary>Checks the shape against itself: local keys must end at the last query (so no index leaves the buffers).</summary>
    public void Validate()
    {
        if (QueryCount <= 0 || Heads <= 0 || KvHeads <= 0 || HeadDim <= 0 || Heads % KvHeads != 0 || FarCount < 0 || ExtraCount < 0 || Window <= 0)
            throw new ArgumentException($"bad attention shape {this}");
        long lastQuery = FirstQueryPosition + QueryCount - 1;
        if (LocalCount < QueryCount || LocalFirstPosition + LocalCount - 1 != lastQuery)
            throw new ArgumentException($"local keys [{LocalFirstPosition}, {LocalFirstPosition + LocalCount}) must end at the last query {lastQuery}");
    }
}

/// <summary>Shape of a top-k selection: far slots [Begin, End), K per head.</summary>
public readonly record struct TopKShape(int Heads, int KvHeads, int HeadDim, float Scale, int Begin, int End, int K)
{
    /// <summary>
    /// Largest K: the GPU kernel keeps its chosen slots in a shared-memory list of this size and the CPU one on the
    /// stack; the paper runs K = 5.
    /// </summary>
    public const int MaxK = 64;
}

/// <summary>The buffers of one attention call (a struct: one per layer per token must not allocate); layouts are [slot or row, heads, headDim].</summary>
/// <param name="Query">[QueryCount, Heads, HeadDim], rotated at each row's own position.</param>
/// <param name="LocalKeys">[LocalCount, KvHeads, HeadDim], rotated at their positions.</param>
/// <param name="LocalValues">[LocalCount, KvHeads, HeadDim].</param>
/// <param name="Output">[QueryCount, Heads, HeadDim].</param>
public readonly record struct AttentionBuffers(DeviceBuffer Query, DeviceBuffer LocalKeys, DeviceBuffer LocalValues, DeviceBuffer Output)
{
    /// <summary>[QueryCount, Heads, HeadDim]: the query rotated to the ceiling distance (or the plain query).</summary>
    public DeviceBuffer? FarQuery { get; init; }
    /// <summary>[FarCount, KvHeads, HeadDim]: raw (or rotated, without a ceiling) keys of far positions.</summary>
    public DeviceBuffer? FarKeys { get; init; }
    /// <summary>[FarCount, KvHeads, HeadDim].</summary>
    public DeviceBuffer? FarValues { get; init; }
    /// <summary>[Heads, ExtraCount] logits of the top-k entries (already scaled).</summary>
    public DeviceBuffer? ExtraLogits { get; init; }
    /// <summary>[Heads, ExtraCount, HeadDim] values of the top-k entries.</summary>
    public DeviceBuffer? ExtraValues { get; init; }
    /// <summary>[Heads] ALiBi slopes (null: no positional bias, RoPE models).</summary>
    public DeviceBuffer? AlibiSlopes { get; init; }
}
