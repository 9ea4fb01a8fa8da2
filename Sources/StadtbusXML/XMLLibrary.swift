import CLibXML
import CXMLShim
