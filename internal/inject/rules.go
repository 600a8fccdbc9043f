package inject

import "strings"

// A rule matches folded (lower-case, normalized) text. Every rule starts at
// an anchor: a whole word from words, or a byte from lead. The scanner finds
// anchors in one pass and runs the rule's tail, anchored, on a window of at
// most maxLen bytes after the anchor. That keeps the cost linear in the input
// (each anchor costs at most one bounded regexp run) and lets benign text,
// which rarely contains anchors followed by the right words, pass quickly.
//
// Weights are the rule's stand-alone contribution to the score; see score.go
// for how they combine. They were set by reasoning about how often the
// phrase occurs in ordinary tool output, then checked against the even-
// indexed half of the corpora (docs/injection.md); no rule was written for a
// single corpus item.
type ruleSpec struct {
	id        string
	family    Family
	weight    float64
	words     []string
	lead      string
	tail      string
	maxLen    int
	lineStart bool

	// Prefilters, checked before the regexp runs; they must admit every
	// text the tail can match (TestRules_Covered and FuzzDetect hold them to
	// that). next: the word after the anchor (skipping white space and
	// '":,-#/) must be one of these. nextBytes: the byte right after the anchor
	// must be one of these. needs: every group must have a member that
	// occurs in the window.
	next      string
	nextBytes string
	needs     [][]string
}

const defaultMaxLen = 160

// Shared sub-patterns.
const (
	overrideVerbs = "ignore ignoring ignores disregard disregarding forget forgetting override overriding bypass bypassing neglect overlook"
	priorQual     = `(?:previous|prior|above|earlier|preceding|former|foregoing|aforementioned|original|initial|your|system|developer|safety|existing|all|any|every|openai|openai's)`
	instrNoun     = `(?:instructions?|directions?|directives?|prompts?|rules|guidelines|guidance|commands?|orders|context|constraints|restrictions|programming|policies|conversation|filters?|training|limitations)`
	modelOutput   = `(?:response|responses|reply|replies|answer|answers|output|outputs|completion|summary|summaries)`
	aiNoun        = `(?:ai|a\.i\.|llm|llms|large\s+language\s+model|language\s+model|ai\s+(?:assistant|agent|model)|chatbot|gpt|chatgpt|claude|copilot|gemini)`
	emailOrURL    = `(?:[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+|https?://|www\.|the\s+(?:following\s+)?(?:address|url|email|endpoint|server|webhook))`
	secretNoun    = `(?:conversation|chat\s+history|history|credentials?|passwords?|api[\s_-]?keys?|access\s+tokens?|tokens?|secrets?|private\s+keys?|ssh\s+keys?|cookies?|session\s+(?:ids?|tokens?|cookies?)|env(?:ironment)?\s+variables?|system\s+prompt|previous\s+messages|otp|2fa\s+codes?|one-time\s+(?:codes?|passwords?)|verification\s+codes?)`
	cssEnd        = `\s*(?:;|"|'|!|\}|$)`
)

// exfilTargets are the literals one of which an exfiltration target
// (address, URL or "the following …") contains.
var exfilTargets = []string{"@", "http", "www.", "address", "url", "email", "endpoint", "server", "webhook"}

// Literal hints that the corresponding sub-patterns need; prefilters only.
var (
	secretHints  = []string{"conversation", "history", "credential", "password", "api", "key", "token", "secret", "cookie", "session", "env", "prompt", "previous", "otp", "2fa", "one-time", "code"}
	instrHints   = []string{"instruction", "direction", "directive", "prompt", "rule", "guid", "command", "order", "context", "constraint", "restriction", "programming", "polic", "conversation", "filter", "training", "limitation"}
	outputHints  = []string{"response", "repl", "answer", "output", "completion", "summar"}
	personaHints = []string{"act", "pretend", "simulat", "role", "behav", "emulat", "imitat", "impersonat", "respond", "answer", "reply"}
	aiHints      = []string{"ai", "a.i.", "llm", "language", "chatbot", "gpt", "claude", "copilot", "gemini", "assistant", "bot", "agent", "model"}
)

var ruleSpecs = []ruleSpec{
	// Instructions aimed at the model.
	{id: "ignore-previous", family: FamilyInstruction, weight: 0.9, words: fields(overrideVerbs),
		tail:  `(?:\s+(?:the|of|any|all|these|those|my|each|every|and|or|,)){0,4}?\s+` + priorQual + `\b(?:\s+[a-z'-]+){0,3}?\s+` + instrNoun + `\b`,
		next:  "the of any all these those my each every and or previous prior above earlier preceding former foregoing aforementioned original initial your system developer safety existing openai",
		needs: [][]string{instrHints}},
	{id: "ignore-previous", family: FamilyInstruction, weight: 0.9, words: fields(overrideVerbs),
		tail: `\s+(?:everything|anything|all)\s+(?:above|before|previously|prior|said|you\s+(?:were|have\s+been|'ve\s+been)\s+told)\b`,
		next: "everything anything all"},
	{id: "ignore-previous", family: FamilyInstruction, weight: 0.9, words: []string{"pay"},
		tail: `\s+no\s+attention\s+to\s+(?:the\s+|any\s+|all\s+)?(?:previous|prior|above|earlier|your|system)\b`,
		next: "no"},
	{id: "ignore-instructions", family: FamilyInstruction, weight: 0.6, words: fields(overrideVerbs),
		tail: `\s+(?:the\s+|these\s+|those\s+|this\s+|all\s+)?(?:instructions?|directions?|prompts?|system\s+prompt)\b`,
		next: "the these those this all instruction instructions direction directions prompt prompts system"},
	{id: "ignore-above", family: FamilyInstruction, weight: 0.45, words: fields(overrideVerbs),
		tail: `\s+(?:the\s+|all\s+(?:of\s+)?(?:the\s+)?)?above\b`,
		next: "the all above"},
	{id: "you-are-now-role", family: FamilyInstruction, weight: 0.8, words: []string{"you"},
		tail:  `(?:\s+are|\s*'\s*re)\s+now\s+(?:(?:an?|the|my)\s+)?(?:(?:unrestricted|unfiltered|uncensored|jailbroken|evil|liberated|rogue|dan)\b|in\s+(?:[a-z-]+\s+)?mode\b|going\s+to\s+(?:act|pretend|role-?play)\b|acting\s+as\b|playing\s+(?:the\s+role|a\s+character)\b|no\s+longer\b|(?:called|named)\b|(?:[a-z-]+\s+){0,2}?(?:` + aiNoun + `|assistant|character|persona)\b)`,
		next:  "are re",
		needs: [][]string{{"now"}}},
	{id: "you-are-now", family: FamilyInstruction, weight: 0.3, words: []string{"you"},
		tail:  `(?:\s+are|\s*'\s*re)\s+now\s+(?:an?|the|my|in|going|acting|playing)\b`,
		next:  "are re",
		needs: [][]string{{"now"}}},
	{id: "new-instructions", family: FamilyInstruction, weight: 0.5,
		words: fields("new updated revised real actual true secret hidden priority override urgent admin system"),
		tail:  `(?:\s+(?:system|important|urgent|secret|admin|priority|updated|new))?\s+(?:instructions?|directives?|orders)\s*(?::|-|!)`,
		next:  "system important urgent secret admin priority updated new instruction instructions directive directives orders"},
	{id: "prompt-reveal", family: FamilyInstruction, weight: 0.8,
		words: fields("reveal print show repeat output leak display disclose tell give share dump recite write echo expose return"),
		tail:  `(?:\s+(?:me|us|out|back|the|your|all|of|full|entire|complete|exact|verbatim|contents?|text)){0,5}?\s+(?:(?:system|initial|original|hidden|secret|developer|full|entire)\s+(?:prompt|instructions|message|rules)|pre-?prompt|(?:instructions|prompt)\s+(?:above|you\s+were\s+given)|(?:above|previous|prior)\s+(?:prompt|instructions))\b`,
		next:  "me us out back the your all of full entire complete exact verbatim content contents text system initial original hidden secret developer pre preprompt instructions prompt above previous prior",
		needs: [][]string{{"prompt", "instructions", "message", "rules"}}},
	{id: "prompt-mention", family: FamilyInstruction, weight: 0.3, words: []string{"system", "developer"},
		tail: `\s+(?:prompt|message)\b`,
		next: "prompt message"},
	{id: "from-now-on", family: FamilyInstruction, weight: 0.45, words: []string{"from"},
		tail: `\s+now\s+on\s*,?\s+(?:you|your|act|respond|answer|reply|pretend|always|never|only|ignore|do|don't|refer|speak)\b`,
		next: "now"},
	{id: "pretend", family: FamilyInstruction, weight: 0.35, words: []string{"pretend", "pretending"},
		tail: `\s+(?:to\s+be|you\s+are|you\s*'\s*re|that\s+you)\b`,
		next: "to you that"},
	{id: "act-as", family: FamilyInstruction, weight: 0.45, words: fields("act acting behave respond function operate answer roleplay"),
		tail: `\s+as\s+(?:if\s+you\s+(?:are|were)\s+)?(?:an?\s+|the\s+|my\s+)?(?:[a-z'-]+\s+){0,3}?(?:` + aiNoun + `|assistant|bot|character|persona|dan|hacker|terminal|console|interpreter|jailbreak)\b`,
		next: "as"},
	{id: "do-anything-now", family: FamilyInstruction, weight: 0.9, words: []string{"do"}, tail: `\s+anything\s+now\b`,
		next: "anything"},
	{id: "jailbreak", family: FamilyInstruction, weight: 0.4, words: []string{"jailbreak", "jailbroken", "jailbreaking"}},
	{id: "special-mode", family: FamilyInstruction, weight: 0.5,
		words: fields("developer god dan jailbreak jailbroken unrestricted evil chaos uncensored unfiltered opposite"), tail: `\s+mode\b`,
		next: "mode"},
	{id: "no-restrictions", family: FamilyInstruction, weight: 0.6, words: fields("no without free unbound beyond any"),
		tail:  `(?:\s+(?:any|of|from|all|the))*\s+(?:(?:ethical|moral|morality|content|safety|openai|programming|programmed|ai)(?:\s*[,/]\s*|\s+(?:or|and|nor)\s+|\s+))+(?:restrictions|limits|limitations|filters?|filtering|guidelines|boundaries|rules|policies|constraints|principles|concerns|considerations|standards|obligations)\b`,
		next:  "any of from all the ethical moral morality content safety openai programming programmed ai",
		needs: [][]string{{"ethic", "moral", "content", "safety", "openai", "programm", "ai"}}},
	{id: "stay-in-character", family: FamilyInstruction, weight: 0.45, words: fields("stay stays remain remains staying"),
		tail: `\s+in\s+(?:character\b|(?:[a-z0-9_-]+\s+){1,2}mode\b)`,
		next: "in"},
	{id: "stay-in-character", family: FamilyInstruction, weight: 0.45, words: []string{"in"},
		tail: `\s+character(?:\s+as\b|\s*,)`,
		next: "character"},
	{id: "stay-in-character", family: FamilyInstruction, weight: 0.45, words: []string{"break", "breaking"},
		tail: `\s+(?:out\s+of\s+)?character\b`,
		next: "out character"},
	{id: "never-refuse", family: FamilyInstruction, weight: 0.45, words: []string{"never", "not", "t"},
		tail: `\s+(?:ever\s+)?(?:refuse|decline)\b`,
		next: "ever refuse decline"},
	{id: "no-disclaimers", family: FamilyInstruction, weight: 0.5, words: fields("no without never not t"),
		tail: `(?:\s+(?:any|include|including|add|adding|give|giving|provide|providing|use|using))*\s+(?:disclaimers?|moralizing|moralising|moral\s+lectures?)\b`,
		next: "any include including add adding give giving provide providing use using disclaimer disclaimers moralizing moralising moral"},
	{id: "conceal-from-user", family: FamilyInstruction, weight: 0.65, words: []string{"do", "never"},
		tail: `\s+(?:not\s+)?(?:tell|inform|mention|notify|alert|reveal|disclose|show)\b(?:\s+(?:this|it|that|anything|about\s+(?:this|it)))?(?:\s+to)?\s+(?:the\s+)?(?:user|users|human|operator)\b`,
		next: "not tell inform mention notify alert reveal disclose show"},
	{id: "conceal-from-user", family: FamilyInstruction, weight: 0.65, words: []string{"don"},
		tail: `\s*'\s*t\s+(?:tell|inform|mention|notify|alert|reveal|disclose|show)\b(?:\s+(?:this|it|that|anything|about\s+(?:this|it)))?(?:\s+to)?\s+(?:the\s+)?(?:user|users|human|operator)\b`,
		next: "t"},
	{id: "conceal-from-user", family: FamilyInstruction, weight: 0.65, words: []string{"without"},
		tail: `\s+(?:telling|informing|notifying|alerting|asking)\s+(?:the\s+)?(?:user|users|human|operator)\b`,
		next: "telling informing notifying alerting asking"},
	{id: "address-ai", family: FamilyInstruction, weight: 0.6,
		words: fields("note message instructions instruction attention hey dear hello hi important"),
		tail:  `\s*[:,-]?\s*(?:to\s+|for\s+)?(?:the\s+|any\s+|all\s+)?(?:` + aiNoun + `|assistant|assistants|bot|agent|agents|model)\b\s*[:,!.]`,
		next:  "to for the any all ai a llm llms large language chatbot gpt chatgpt claude copilot gemini assistant assistants bot agent agents model",
		needs: [][]string{aiHints}},
	{id: "address-ai", family: FamilyInstruction, weight: 0.6, words: []string{"if"},
		tail: `\s+you\s+are\s+(?:an?\s+)?` + aiNoun + `\b`,
		next: "you"},
	{id: "address-ai", family: FamilyInstruction, weight: 0.6,
		words: fields("ai llm llms chatbot chatbots assistant assistants model models agent agents bot bots gpt"),
		tail:  `\s+(?:that\s+is\s+|who\s+is\s+)?(?:reading|processing|summarizing|summarising|parsing|analyzing|analysing|reviewing|ingesting)\s+(?:this|these)\b`,
		next:  "that who reading processing summarizing summarising parsing analyzing analysing reviewing ingesting"},
	{id: "response-directive", family: FamilyInstruction, weight: 0.5, words: fields("in into within throughout from of"),
		tail: `\s+your\s+(?:final\s+|next\s+)?` + modelOutput + `\b`,
		next: "your"},
	{id: "response-directive", family: FamilyInstruction, weight: 0.5,
		words: fields("add append prepend attach insert include integrate incorporate embed inject begin start end conclude finish preface"),
		tail:  `[^.\n]{0,100}?\s(?:to|in|into|with)\s+your\s+` + modelOutput + `\b`,
		needs: [][]string{{"your"}, outputHints}},
	{id: "response-directive", family: FamilyInstruction, weight: 0.5, words: []string{"your"},
		tail: `\s+` + modelOutput + `\s+(?:should|must|shall|needs\s+to|has\s+to)\b`,
		next: "response responses reply replies answer answers output outputs completion summary summaries"},
	{id: "response-directive", family: FamilyInstruction, weight: 0.5,
		words: fields("provide modify enhance augment format write compose structure render present keep make limit rewrite phrase deliver translate"),
		tail:  `\s+your\s+(?:final\s+|next\s+|entire\s+|whole\s+)?` + modelOutput + `\b`,
		next:  "your"},
	{id: "persona-switch", family: FamilyInstruction, weight: 0.55, words: []string{"you"},
		tail:  `\s+(?:are\s+going\s+to|will|must|shall|should|have\s+to|need\s+to)\s+(?:now\s+|always\s+|from\s+now\s+on\s+)?(?:act|pretend|simulate|role-?play|behave|emulate|imitate|impersonate|(?:respond|answer|reply)\s+as)\b`,
		next:  "are will must shall should have need",
		needs: [][]string{personaHints}},
	{id: "unfiltered-ai", family: FamilyInstruction, weight: 0.6,
		words: fields("amoral unfiltered uncensored unrestricted unethical unbound unlimited evil"),
		tail:  `(?:\s*(?:,|and|&)\s*[a-z-]+)*\s+(?:version\s+of\s+)?(?:` + aiNoun + `|assistant|bot|version|persona|character|mode|entity)\b`},
	{id: "policy-evasion", family: FamilyInstruction, weight: 0.5, words: []string{"openai"},
		tail: `(?:\s*'\s*s)?\s+(?:content\s+|usage\s+|safety\s+)?(?:polic(?:y|ies)|guidelines|rules|restrictions|filters?|moderation)\b`,
		next: "s content usage safety policy policies guidelines rules restrictions filter filters moderation"},
	{id: "policy-evasion", family: FamilyInstruction, weight: 0.5, words: []string{"no", "without"},
		tail: `\s+(?:any\s+)?(?:censorship|censoring)\b`,
		next: "any censorship censoring"},
	{id: "prompt-placeholder", family: FamilyInstruction, weight: 0.45, lead: "[{<",
		tail:      `\s*(?:insert\s+)?(?:your\s+)?(?:prompt|question|request)\s*(?:here)?\s*[\]}>]`,
		nextBytes: " \t\niypqr", needs: [][]string{{"prompt", "question", "request"}}},
	{id: "persona-label", family: FamilyInstruction, weight: 0.5, lead: "[",
		tail:      `\s*(?:gpt|chatgpt|classic|jailbreak|jailbroken|dan|\x{1F513}|\x{1F512}|normal\s+output|developer\s+mode\s+output)[^\]\n]{0,20}\]\s*:?`,
		nextBytes: " gcjdn\xf0"},
	{id: "special-mode", family: FamilyInstruction, weight: 0.5, words: []string{"mode"},
		tail: `\s+(?:is\s+)?(?:enabled|activated|engaged|unlocked)\b`,
		next: "is enabled activated engaged unlocked"},
	{id: "code-directive", family: FamilyInstruction, weight: 0.35, words: fields("following subsequent below provided given this these"),
		tail: `\s+code\s+(?:block|snippet|excerpt|section|segment|fragment|piece)s?\b[^\n]{0,80}?\b(?:your|the)\s+(?:code|codebase|solution|implementation|algorithm|response|program|script|project)\b`,
		next: "code"},
	{id: "code-directive", family: FamilyInstruction, weight: 0.35, words: []string{"your"},
		tail: `\s+(?:code|codebase|solution|implementation|algorithm|program|script)\b[^\n]{0,80}?\b(?:following|subsequent|below)\s+code\s+(?:block|snippet|excerpt|section|segment|fragment)\b`,
		next: "code codebase solution implementation algorithm program script"},

	// Role and delimiter tokens.
	{id: "chat-token", family: FamilyDelimiter, weight: 0.9, lead: "<",
		tail:      `\|\s*(?:im_start|im_end|im_sep|endoftext|end_of_text|begin_of_text|system|user|assistant|start_header_id|end_header_id|eot_id|eom_id|fim_prefix|fim_middle|fim_suffix|tool_call|tool_response|start|end|message|channel|return|call|constrain)\s*\|>`,
		nextBytes: "|"},
	{id: "llama-inst", family: FamilyDelimiter, weight: 0.8, lead: "[", tail: `\s*/?\s*inst\s*\]`,
		needs: [][]string{{"inst"}}},
	{id: "llama-inst", family: FamilyDelimiter, weight: 0.8, lead: "<", tail: `<\s*/?\s*sys\s*>>`,
		nextBytes: "<"},
	{id: "role-header", family: FamilyDelimiter, weight: 0.6, lead: "#", lineStart: true,
		tail: `#{0,5}\s*(?:system|assistant|user|human|instruction|instructions|developer|response)\s*(?:message|prompt)?\s*:`},
	{id: "role-line", family: FamilyDelimiter, weight: 0.35, words: []string{"system", "assistant"}, lineStart: true,
		tail: `[ \t]*(?:message|prompt|note|override|instructions?)?[ \t]*:\s`},
	{id: "forged-tag", family: FamilyDelimiter, weight: 0.8, lead: "<",
		tail:  `/?\s*(?:tool_results?|tool_use|tool_calls?|tool_response|tool_output|function_results?|function_calls?|function_response|system|system[-_](?:reminder|prompt|message|instructions?)|instructions?|assistant|im_start|im_end|admin|developer)\b[^<>\n]{0,40}>`,
		next:  "tool_result tool_results tool_use tool_call tool_calls tool_response tool_output function_result function_results function_call function_calls function_response system system_reminder system_prompt system_message system_instruction system_instructions instruction instructions assistant im_start im_end admin developer",
		needs: [][]string{{">"}}},
	{id: "forged-tag-weak", family: FamilyDelimiter, weight: 0.25, lead: "<",
		tail:  `/?\s*(?:user|human|context|documents?|untrusted|data|output|result|results)\s*>`,
		next:  "user human context document documents untrusted data output result results",
		needs: [][]string{{">"}}},
	{id: "context-boundary", family: FamilyDelimiter, weight: 0.5, lead: "<[{-=*(",
		tail:      `[-=*<\[{(\s]*(?:end|begin|start)\s+(?:of\s+)?(?:the\s+)?(?:session|conversation|context|document|input|prompt|instructions|system\s+prompt|user\s+input|tool\s+(?:output|result)|untrusted\s+(?:content|data))\b`,
		nextBytes: "-=*<[{( \t\nebs", needs: [][]string{{"end", "begin", "start"}}},
	{id: "forged-marker", family: FamilyDelimiter, weight: 0.9, lead: "[", tail: `\s*actiongate\s*:`,
		needs: [][]string{{"actiongate"}}},

	// Tool calls and exfiltration.
	{id: "exfil-secrets", family: FamilyExfiltration, weight: 0.75,
		words: fields("send sending forward email mail post upload transmit exfiltrate leak share copy submit paste report deliver relay include append attach encode"),
		tail:  `(?:[^\n.]{0,60}?\s)?(?:(?:the|all|any|this|your|my|their|these|user's|users')\s+)*` + secretNoun + `\b[^\n]{0,80}?\b(?:to|at|via)\s+` + emailOrURL, maxLen: 300,
		needs: [][]string{exfilTargets, secretHints}},
	{id: "exfil-bulk", family: FamilyExfiltration, weight: 0.55,
		words: fields("send forward email upload transmit exfiltrate copy share"),
		tail:  `\s+(?:all|every|each|the\s+entire|the\s+whole|entire)\s+(?:of\s+(?:the|my|your)\s+)?(?:emails?|messages?|files?|documents?|data|contacts?|inbox|conversation|chats?|history|records?)\b[^\n]{0,80}?\b(?:to|at)\s+` + emailOrURL, maxLen: 300,
		next: "all every each the entire", needs: [][]string{exfilTargets}},
	{id: "call-tool", family: FamilyExfiltration, weight: 0.35, words: fields("call invoke use run execute trigger"),
		tail:  `\s+(?:the\s+)?[\x60"']?[a-z0-9_.-]{2,64}[\x60"']?\s+(?:tool|plugin)\b`,
		needs: [][]string{{"tool", "plugin"}}},
	{id: "mcp-call", family: FamilyExfiltration, weight: 0.35, words: []string{"tools"}, tail: `\s*/\s*call\b`},
	{id: "md-image-exfil", family: FamilyExfiltration, weight: 0.75, lead: "!", maxLen: 600,
		tail:      `\[[^\]\n]{0,120}\]\(\s*<?https?://[^)\s]{1,400}?\?[^)\s]*=`,
		nextBytes: "[", needs: [][]string{{"]("}, {"?"}}},
	{id: "url-template", family: FamilyExfiltration, weight: 0.35, words: []string{"http", "https"}, maxLen: 400,
		tail:  `://[^\s)"'<>\x60]{1,300}?[?&][a-z0-9_.\[\]-]{1,40}=(?:\{|\[|<|\$|%7b|%5b|%3c)`,
		needs: [][]string{{"={", "=[", "=<", "=$", "=%7b", "=%5b", "=%3c"}}},
	{id: "html-img-query", family: FamilyExfiltration, weight: 0.3, lead: "<", maxLen: 800,
		tail:      `img\b[^>]{0,300}?\bsrc\s*=\s*["']?https?://[^"'\s>]{1,400}?\?[^"'\s>]*=`,
		nextBytes: "i"},

	// Hidden HTML and markdown.
	{id: "html-comment", family: FamilyHidden, weight: 0.2, lead: "<", tail: `!--`,
		nextBytes: "!"},
	{id: "css-hidden", family: FamilyHidden, weight: 0.4, words: []string{"display"}, tail: `\s*:\s*none\b`,
		next: "none"},
	{id: "css-hidden", family: FamilyHidden, weight: 0.4, words: []string{"visibility"}, tail: `\s*:\s*hidden\b`,
		next: "hidden"},
	{id: "css-hidden", family: FamilyHidden, weight: 0.4, words: []string{"opacity"}, tail: `\s*:\s*0(?:\.0+)?` + cssEnd, next: "0"},
	{id: "css-hidden", family: FamilyHidden, weight: 0.4, words: []string{"font"},
		tail: `\s*-\s*size\s*:\s*(?:0|0?\.[0-4]\d*)\s*(?:px|pt|em|rem|%)?` + cssEnd, next: "size"},
	{id: "white-text", family: FamilyHidden, weight: 0.25, words: []string{"color"},
		tail: `\s*:\s*(?:#fff(?:fff)?|white|rgba?\(\s*255\s*,\s*255\s*,\s*255)\b`,
		next: "fff ffffff white rgb rgba"},
	{id: "zero-size", family: FamilyHidden, weight: 0.2, words: []string{"width", "height", "max"},
		tail: `(?:-height|-width)?\s*:\s*0(?:px)?\s*(?:;|"|')`,
		next: "0 height width"},
	{id: "offscreen", family: FamilyHidden, weight: 0.3, words: []string{"indent", "left", "top"}, tail: `\s*:\s*-\d{3,}`,
		needs: [][]string{{":"}}},
	{id: "hidden-attr", family: FamilyHidden, weight: 0.3, lead: "<", maxLen: 420,
		tail:  `[a-z][a-z0-9]*\s[^<>]{0,200}?\shidden(?:\s*=|\s|>|/)`,
		needs: [][]string{{"hidden"}}},
	{id: "md-comment", family: FamilyHidden, weight: 0.3, lead: "[", tail: `(?://|comment)\]\s*:\s*[<#]`,
		nextBytes: "/c"},
}

// Obfuscation rules are raised by normalization and by the scanner, not by
// a regexp; they are listed here so ids and weights live in one place.
const (
	ruleTags        = "unicode-tags"
	ruleZeroWidth   = "zero-width-in-word"
	ruleBidi        = "bidi-control"
	ruleMixedScript = "mixed-script-word"
	ruleObfuscated  = "obfuscated-match"
	ruleEncoded     = "encoded-payload"
)

// scan-budget-exceeded is raised when a text holds so many near-matches
// that the scanner stops running rules (see ruleSet.scan); it is primary
// because the detector could not finish, and an unfinished scan fails
// closed.
const ruleBudget = "scan-budget-exceeded"

var signalRules = []struct {
	id      string
	weight  float64
	primary bool
}{
	{ruleTags, 0.6, false},
	{ruleZeroWidth, 0.3, false},
	{ruleBidi, 0.25, false},
	{ruleMixedScript, 0.3, false},
	{ruleObfuscated, 0.35, false},
	{ruleEncoded, 0.3, false},
	{ruleBudget, 0.9, true},
}

func fields(s string) []string { return strings.Fields(s) }
