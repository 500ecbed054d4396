namespace LongLM.Runtime.Tokenization;

/// <summary>
/// A tokenizer.json TemplateProcessing post-processor, reduced to what LongLM uses: the special token its
/// single-sequence template puts before the text (Llama 3: "&lt;|begin_of_text|&gt; $A"), if any.
/// </summary>
/// <param name="LeadingToken">The special token before "$A", or null when the template starts with the text.</param>
/// <param name="LeadingId">Its id when the template's special_tokens table gives one.</param>
internal sealed record PostProcessorTemplate(string? LeadingToken, int? LeadingId);
