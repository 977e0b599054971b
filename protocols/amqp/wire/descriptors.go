package wire

// Descriptor codes of the composite and restricted types this package
// decodes. Each is the low word of the descriptor (the domain-id, AMQP's
// 0x00000000, is the high word). AMQP 1.0 §1.5 descriptor values; the codes
// are given with each type in §2.7, §2.8.14, §3.2, §3.4, §3.5, §4.5 and §5.3.3.
const (
	DescOpen        uint64 = 0x10 // AMQP 1.0 §2.7.1
	DescBegin       uint64 = 0x11 // AMQP 1.0 §2.7.2
	DescAttach      uint64 = 0x12 // AMQP 1.0 §2.7.3
	DescFlow        uint64 = 0x13 // AMQP 1.0 §2.7.4
	DescTransfer    uint64 = 0x14 // AMQP 1.0 §2.7.5
	DescDisposition uint64 = 0x15 // AMQP 1.0 §2.7.6
	DescDetach      uint64 = 0x16 // AMQP 1.0 §2.7.7
	DescEnd         uint64 = 0x17 // AMQP 1.0 §2.7.8
	DescClose       uint64 = 0x18 // AMQP 1.0 §2.7.9
	DescError       uint64 = 0x1d // AMQP 1.0 §2.8.14

	DescReceived uint64 = 0x23 // AMQP 1.0 §3.4.1
	DescAccepted uint64 = 0x24 // AMQP 1.0 §3.4.2
	DescRejected uint64 = 0x25 // AMQP 1.0 §3.4.3
	DescReleased uint64 = 0x26 // AMQP 1.0 §3.4.4
	DescModified uint64 = 0x27 // AMQP 1.0 §3.4.5
	DescSource   uint64 = 0x28 // AMQP 1.0 §3.5.3
	DescTarget   uint64 = 0x29 // AMQP 1.0 §3.5.4

	DescCoordinator        uint64 = 0x30 // AMQP 1.0 §4.5.1
	DescDeclare            uint64 = 0x31 // AMQP 1.0 §4.5.2
	DescDischarge          uint64 = 0x32 // AMQP 1.0 §4.5.3
	DescDeclared           uint64 = 0x33 // AMQP 1.0 §4.5.5
	DescTransactionalState uint64 = 0x34 // AMQP 1.0 §4.5.6

	DescSASLMechanisms uint64 = 0x40 // AMQP 1.0 §5.3.3.1
	DescSASLInit       uint64 = 0x41 // AMQP 1.0 §5.3.3.2
	DescSASLChallenge  uint64 = 0x42 // AMQP 1.0 §5.3.3.3
	DescSASLResponse   uint64 = 0x43 // AMQP 1.0 §5.3.3.4
	DescSASLOutcome    uint64 = 0x44 // AMQP 1.0 §5.3.3.5

	DescHeader                uint64 = 0x70 // AMQP 1.0 §3.2.1
	DescDeliveryAnnotations   uint64 = 0x71 // AMQP 1.0 §3.2.2
	DescMessageAnnotations    uint64 = 0x72 // AMQP 1.0 §3.2.3
	DescProperties            uint64 = 0x73 // AMQP 1.0 §3.2.4
	DescApplicationProperties uint64 = 0x74 // AMQP 1.0 §3.2.5
	DescData                  uint64 = 0x75 // AMQP 1.0 §3.2.6
	DescAMQPSequence          uint64 = 0x76 // AMQP 1.0 §3.2.7
	DescAMQPValue             uint64 = 0x77 // AMQP 1.0 §3.2.8
	DescFooter                uint64 = 0x78 // AMQP 1.0 §3.2.9

	// DescSelectorFilter is the Apache (ActiveMQ, Qpid) JMS selector filter,
	// a described string, registered in the AMQP filter registry as
	// "apache.org:selector-filter:string" 0x0000468C:0x00000004.
	DescSelectorFilter uint64 = 0x0000468C00000004
	// DescNoLocalFilter is the Apache no-local filter, a described list,
	// "apache.org:no-local-filter:list" 0x0000468C:0x00000003.
	DescNoLocalFilter uint64 = 0x0000468C00000003
)

// Symbolic descriptors of the filters, which peers send as often as the
// numeric ones.
const (
	SymSelectorFilter Symbol = "apache.org:selector-filter:string"
	SymNoLocalFilter  Symbol = "apache.org:no-local-filter:list"
)

// descriptorCodes maps every symbolic descriptor to its numeric code: a peer
// may send either form. AMQP 1.0 §1.5: "the descriptor ... MAY be a symbol or
// an ulong".
var descriptorCodes = map[Symbol]uint64{
	"amqp:open:list":                               DescOpen,
	"amqp:begin:list":                              DescBegin,
	"amqp:attach:list":                             DescAttach,
	"amqp:flow:list":                               DescFlow,
	"amqp:transfer:list":                           DescTransfer,
	"amqp:disposition:list":                        DescDisposition,
	"amqp:detach:list":                             DescDetach,
	"amqp:end:list":                                DescEnd,
	"amqp:close:list":                              DescClose,
	"amqp:error:list":                              DescError,
	"amqp:received:list":                           DescReceived,
	"amqp:accepted:list":                           DescAccepted,
	"amqp:rejected:list":                           DescRejected,
	"amqp:released:list":                           DescReleased,
	"amqp:modified:list":                           DescModified,
	"amqp:source:list":                             DescSource,
	"amqp:target:list":                             DescTarget,
	"amqp:coordinator:list":                        DescCoordinator,
	"amqp:declare:list":                            DescDeclare,
	"amqp:discharge:list":                          DescDischarge,
	"amqp:declared:list":                           DescDeclared,
	"amqp:transactional-state:list":                DescTransactionalState,
	"amqp:sasl-mechanisms:list":                    DescSASLMechanisms,
	"amqp:sasl-init:list":                          DescSASLInit,
	"amqp:sasl-challenge:list":                     DescSASLChallenge,
	"amqp:sasl-response:list":                      DescSASLResponse,
	"amqp:sasl-outcome:list":                       DescSASLOutcome,
	"amqp:header:list":                             DescHeader,
	"amqp:delivery-annotations:map":                DescDeliveryAnnotations,
	"amqp:message-annotations:map":                 DescMessageAnnotations,
	"amqp:properties:list":                         DescProperties,
	"amqp:application-properties:map":              DescApplicationProperties,
	"amqp:data:binary":                             DescData,
	"amqp:amqp-sequence:list":                      DescAMQPSequence,
	"amqp:amqp-value:*":                            DescAMQPValue,
	"amqp:footer:map":                              DescFooter,
	SymSelectorFilter:                              DescSelectorFilter,
	SymNoLocalFilter:                               DescNoLocalFilter,
	"apache.org:legacy-amqp-topic-binding:string":  0x0000468C00000001,
	"apache.org:legacy-amqp-headers-binding:map":   0x0000468C00000002,
	"apache.org:legacy-amqp-direct-binding:string": 0x0000468C00000000,
}

// descriptorNames maps the codes back to their symbols, for messages.
var descriptorNames = func() map[uint64]Symbol {
	m := make(map[uint64]Symbol, len(descriptorCodes))
	for s, c := range descriptorCodes {
		m[c] = s
	}
	return m
}()

// DescriptorCode returns the numeric code of a descriptor as decoded by the
// generic decoder (a uint64, or a Symbol of a known type) and whether it is
// known or numeric.
func DescriptorCode(descriptor any) (uint64, bool) {
	switch d := descriptor.(type) {
	case uint64:
		return d, true
	case Symbol:
		c, ok := descriptorCodes[d]
		return c, ok
	}
	return 0, false
}

// descriptorName renders a descriptor code for an error message.
func descriptorName(code uint64) string {
	if s, ok := descriptorNames[code]; ok {
		return string(s)
	}
	return "0x" + hexUint(code)
}

// hexUint formats v in lowercase hex without a prefix.
func hexUint(v uint64) string {
	const digits = "0123456789abcdef"
	if v == 0 {
		return "0"
	}
	var b [16]byte
	i := len(b)
	for v > 0 {
		i--
		b[i] = digits[v&0xf]
		v >>= 4
	}
	return string(b[i:])
}
