using System.Text.Json.Nodes;

namespace LongLM.Runtime.Chat;

/// <summary>What <see cref="ChatTemplate.Render"/> passes to a template, as transformers' apply_chat_template does.</summary>
public sealed record ChatTemplateInput
{
    /// <summary>The conversation: objects with "role", "content" and, for tool use, "tool_calls" or "tool_call_id".</summary>
    public required JsonArray Messages { get; init; }

    /// <summary>Tool definitions (JSON schemas), passed as <c>tools</c>; null gives the template <c>none</c>, like transformers.</summary>
    public JsonArray? Tools { get; init; }

    /// <summary>Documents for retrieval-augmented templates, passed as <c>documents</c> (<c>none</c> when null).</summary>
    public JsonArray? Documents { get; init; }

    /// <summary>Passed as <c>add_generation_prompt</c>: end the prompt with the assistant's turn header.</summary>
    public bool AddGenerationPrompt { get; init; }

    /// <summary>
    /// Further template variables: the special tokens (bos_token, eos_token, ... see <see cref="ChatTemplates.SpecialTokens"/>)
    /// and any extra keyword argument a template reads (enable_thinking, date_string, ...). They may not redefine
    /// messages, tools, documents or add_generation_prompt.
    /// </summary>
    public IReadOnlyDictionary<string, JsonNode?> Variables { get; init; } = new Dictionary<string, JsonNode?>();

    /// <summary>The clock of <c>strftime_now(format)</c>, read as wall-clock time; null means the current local time.</summary>
    public DateTimeOffset? Now { get; init; }
}
