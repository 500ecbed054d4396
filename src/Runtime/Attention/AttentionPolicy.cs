namespace LongLM.Runtime.Attention;

/// <summary>
/// Resolved attention numbers for one model: mode, L (Window), G (Global), D (Distance) and top-k.
/// It decides what the KV cache keeps (algorithms.md decisions, "KV cache").
/// </summary>
public sealed record AttentionPolicy(AttentionMode Mode, int Window, int Global, int Distance, int TopK, int TopKInsertAt, int TopKFromLayer, int TopKToLayer)
{
    /// <summary>Plain causal attention.</summary>
    public static AttentionPolicy Vanilla { get; } = new(AttentionMode.Vanilla, int.MaxValue, 0, int.MaxValue, 0, 0, 0, 0);

    /// <summary>Only the last L-1 tokens' rotated keys are needed by later queries.</summary>
    public bool BoundedLocal => Mode is AttentionMode.Lambda or AttentionMode.LambdaNoCeiling or AttentionMode.Window;

    /// <summary>Keys of every token must stay (ceiling-only sees them all; top-k scores the whole middle).</summary>
    public bool KeepsAllFarKeys => Mode == AttentionMode.CeilingOnly || TopK > 0;

    /// <summary>Far keys are raw (un-rotated) keys seen through the query rotated to D; false: rotated keys, true distance.</summary>
    public bool FarKeysRaw => Mode != AttentionMode.LambdaNoCeiling;

    /// <summary>Whether the model keeps far keys at all.</summary>
    public bool HasFarKeys => Mode is AttentionMode.Lambda or AttentionMode.LambdaNoCeiling or AttentionMode.CeilingOnly;

    /// <summary>Whether layer <paramref name="layer"/> (0-based) re-admits top-k middle tokens.</summary>
    public bool TopKInLayer(int layer) => TopK > 0 && layer >= TopKFromLayer && layer < TopKToLayer;

    /// <summary>One-line description for logs and `longlm info`.</summary>
    public override string ToString() => Mode switch
    {
        AttentionMode.Vanilla => "vanilla",
        AttentionMode.Window => $"window L={Window}",
        AttentionMode.Truncate => $"truncate L={Window}",
        AttentionMode.CeilingOnly => $"ceiling-only L={Window} D={Distance}",
        _ => $"{Mode.Name()} L={Window} G={Global} D={Distance}" + (TopK > 0 ? $" top-k={TopK} at {TopKInsertAt} layers>={TopKFromLayer}" : ""),
    };
}
